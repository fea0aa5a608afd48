"""Validate Web API responses against the contract ``spec/spotify/openapi.yml``.

Reusable by every suite that talks to the emulator (``tests/emulator/conftest.py`` exposes it as
the ``spotify_contract`` fixture). The spec file is never edited: a *relaxed copy* is derived in
code, each relaxation naming the real-service behaviour that the spec is stricter than:

1. every property marked ``deprecated: true`` is removed from ``required`` lists (Development
   Mode no longer sends them; shared README, known gap 1);
2. recently-played ``context`` may be ``null`` (known gap 2);
3. a playlist entry's ``item``/``track`` may be ``null`` (a removed track);
4. local files carry ``null`` ids, hrefs and URIs on the track, its artists and album (and
   ``null`` album type and release date);
5. cursor paging ``next``/``cursors`` and the cursor values may be ``null`` (last page, empty
   history);
6. batch lookups (``/tracks?ids=`` etc.) answer ``null`` for unknown ids.

One more change is a repair, applied in both variants: the playlist entry's ``item``/``track``
``oneOf`` has a ``discriminator`` on ``type`` without a ``mapping``, so validators look for the
schemas ``#/components/schemas/track`` and ``.../episode``, which do not exist, and reject every
entry; the copy adds the intended mapping (``track`` -> TrackObject, ``episode`` -> EpisodeObject).

``strict=True`` validates against relaxations 1 and 2 only, for bodies without oddities.

Statuses an operation does not declare (400, 404, 5xx) are checked against the contract's
generic error response (``{"error": ErrorObject}``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from jsonschema.exceptions import best_match
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "spotify" / "openapi.yml"
SPOTIFY_ORIGIN = "https://api.spotify.com"
_NULL = {"type": "object", "nullable": True, "enum": [None]}


def load_spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema accepting null or what ``schema`` accepts."""
    if "type" in schema and not any(k in schema for k in ("allOf", "oneOf", "anyOf", "$ref")):
        out = {**schema, "nullable": True}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, _NULL]}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _deprecated_names(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> set[str]:
    schema = _resolve(spec, schema)
    names = {
        name
        for name, prop in schema.get("properties", {}).items()
        if isinstance(prop, dict) and prop.get("deprecated") is True
    }
    if depth < 8:
        for member in schema.get("allOf", []):
            names |= _deprecated_names(spec, member, depth + 1)
    return names


def _relax_required(spec: dict[str, Any], node: Any) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("required"), list) and ("properties" in node or "allOf" in node):
            deprecated = _deprecated_names(spec, node)
            node["required"] = [n for n in node["required"] if n not in deprecated]
            if not node["required"]:
                del node["required"]
        for value in node.values():
            _relax_required(spec, value)
    elif isinstance(node, list):
        for value in node:
            _relax_required(spec, value)


def relax(spec: dict[str, Any], *, oddities: bool = True) -> dict[str, Any]:
    """The relaxed copy of ``spec`` described in the module docstring."""
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    # 1. Deprecated properties are optional.
    _relax_required(spec, spec["components"])
    # Repair: the playlist entry discriminator needs its mapping to resolve at all.
    for name in ("item", "track"):
        prop = schemas["PlaylistTrackObject"]["properties"][name]
        prop["discriminator"]["mapping"] = {
            "track": "#/components/schemas/TrackObject",
            "episode": "#/components/schemas/EpisodeObject",
        }
    # 2. Recently-played context may be null.
    history = schemas["PlayHistoryObject"]["properties"]
    history["context"] = _nullable(history["context"])
    if not oddities:
        return spec
    # 3. Removed playlist entries.
    entry = schemas["PlaylistTrackObject"]["properties"]
    for name in ("item", "track"):
        entry[name] = _nullable(entry[name])
    # 4. Local files.
    for schema_name, props in (
        ("TrackObject", ("id", "href")),
        ("SimplifiedArtistObject", ("id", "href", "uri")),
        (
            "AlbumBase",
            ("album_type", "href", "id", "release_date", "release_date_precision", "uri"),
        ),
    ):
        properties = schemas[schema_name]["properties"]
        for prop in props:
            properties[prop] = _nullable(properties[prop])
    # 5. Cursor paging at the end of the data.
    cursor_paging = schemas["CursorPagingObject"]["properties"]
    for prop in ("next", "cursors"):
        cursor_paging[prop] = _nullable(cursor_paging[prop])
    for prop in ("after", "before"):
        schemas["CursorObject"]["properties"][prop] = _nullable(
            schemas["CursorObject"]["properties"][prop]
        )
    # 6. Batch lookups with unknown ids.
    responses = spec["components"]["responses"]
    for response, key in (
        ("ManyArtists", "artists"),
        ("ManyAlbums", "albums"),
        ("ManyTracks", "tracks"),
        ("ManyAudioFeatures", "audio_features"),
    ):
        array = responses[response]["content"]["application/json"]["schema"]["properties"][key]
        array["items"] = _nullable(array["items"])
    return spec


class _Request:
    """openapi-core request protocol for a recorded request (URL mapped onto Spotify's)."""

    def __init__(self, method: str, url: str) -> None:
        parts = urlsplit(url)
        path = parts.path
        if not path.startswith("/v1/") and path != "/v1":
            raise ValueError(f"not a Web API URL: {url}")
        self.host_url = SPOTIFY_ORIGIN
        self.path = path
        self.full_url_pattern = SPOTIFY_ORIGIN + path
        self.method = method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(parts.query, keep_blank_values=True)),
            header=Headers(),
            cookie=ImmutableMultiDict(),
        )
        self.body: bytes | None = None
        self.content_type = "application/json"


class _Response:
    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        self.status_code = status
        self.data = body
        self.content_type = content_type.split(";")[0].strip() or "application/json"
        self.headers = Headers({"Content-Type": self.content_type})


def _describe(exc: BaseException) -> str:
    """The innermost schema errors of an openapi-core failure, with their JSON paths."""
    lines = []
    node: BaseException | None = exc
    while node is not None:
        lines.append(f"{type(node).__name__}: {str(node)[:200]}")
        for error in list(getattr(node, "schema_errors", None) or [])[:3]:
            deepest = best_match([error])
            while deepest.context:
                deepest = best_match(deepest.context)
            lines.append(f"at {list(deepest.absolute_path)}: {deepest.message[:300]}")
        node = node.__cause__
    return " | ".join(lines)


@dataclass
class ContractViolation(AssertionError):
    method: str
    url: str
    status: int
    detail: str

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.status} violates the contract: {self.detail}"


class SpotifyContract:
    """Loaded once per session; ``validate(response)`` raises :class:`ContractViolation`."""

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        raw = spec if spec is not None else load_spec()
        self.raw = raw
        self.relaxed = relax(raw)
        self.strict_spec = relax(raw, oddities=False)
        self._api = OpenAPI.from_dict(self.relaxed)
        self._strict_api = OpenAPI.from_dict(self.strict_spec)
        error_schema = copy.deepcopy(
            self.relaxed["components"]["responses"]["BadRequest"]["content"]["application/json"][
                "schema"
            ]
        )
        error_schema["components"] = self.relaxed["components"]
        self._error_validator = OAS30Validator(error_schema)

    def _declared(self, method: str, path: str, status: int) -> bool:
        template = self._template(path)
        if template is None:
            return False
        operation = self.raw["paths"][template].get(method.lower(), {})
        return str(status) in operation.get("responses", {})

    def _template(self, path: str) -> str | None:
        rel = path[len("/v1") :]
        segments = rel.strip("/").split("/")
        for template in self.raw["paths"]:
            parts = template.strip("/").split("/")
            if len(parts) == len(segments) and all(
                p.startswith("{") or p == s for p, s in zip(parts, segments, strict=True)
            ):
                # Prefer literal matches (e.g. /me/tracks over /me/{x}): templates are few.
                return template
        return None

    def validate(self, response: Any, *, strict: bool = False) -> Any:
        """Validate a ``requests`` or ``httpx`` response; return its parsed JSON body."""
        request = response.request
        method = str(request.method)
        url = str(request.url)
        status = int(response.status_code)
        body = response.content
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("application/json"):
            raise ContractViolation(method, url, status, f"content type {content_type!r}")
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise ContractViolation(method, url, status, f"body is not JSON: {exc}") from None
        path = urlsplit(url).path
        if status >= 400 and not self._declared(method, path, status):
            errors = sorted(self._error_validator.iter_errors(parsed), key=str)
            if errors:
                raise ContractViolation(method, url, status, str(errors[0]))
            return parsed
        api = self._strict_api if strict else self._api
        try:
            api.validate_response(_Request(method, url), _Response(status, body, content_type))
        except Exception as exc:
            raise ContractViolation(method, url, status, _describe(exc)) from None
        return parsed
