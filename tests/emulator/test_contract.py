"""Every answer the emulator gives validates against the contract, in both modes."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_support import EmulatorClient

from extract.emulator import ALL_SCOPES


def _ids(client: EmulatorClient, token: str) -> dict[str, str]:
    """A handful of real ids to call the catalog endpoints with."""
    search = client.get(
        "/search", token, {"q": "velvet", "type": "artist,album,track,playlist", "limit": 10}
    ).json()
    return {
        "artist": search["artists"]["items"][0]["id"],
        "album": search["albums"]["items"][0]["id"],
        "track": search["tracks"]["items"][0]["id"],
        "playlist": search["playlists"]["items"][0]["id"],
    }


def _catalog_calls(ids: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("/search", {"q": "love", "type": "track,artist,album,playlist,show,episode,audiobook"}),
        ("/search", {"q": "love", "type": "track", "limit": 10, "offset": 1000}),
        ("/search", {"q": "love", "type": "track", "market": "SE"}),
        (f"/artists/{ids['artist']}", {}),
        (f"/artists/{ids['artist']}/albums", {"include_groups": "album,single", "limit": 10}),
        (f"/albums/{ids['album']}", {}),
        (f"/albums/{ids['album']}", {"market": "SE"}),
        (f"/albums/{ids['album']}/tracks", {"limit": 50}),
        (f"/tracks/{ids['track']}", {}),
        (f"/tracks/{ids['track']}", {"market": "from_token"}),
        (f"/playlists/{ids['playlist']}", {}),
    ]


_USER_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("/me", {}),
    ("/me/player/recently-played", {"limit": 50}),
    ("/me/top/artists", {"time_range": "short_term", "limit": 50}),
    ("/me/top/tracks", {"time_range": "long_term", "limit": 50}),
    ("/me/tracks", {"limit": 50}),
    ("/me/albums", {"limit": 50}),
    ("/me/playlists", {"limit": 50}),
    ("/me/following", {"type": "artist", "limit": 50}),
]


@pytest.mark.parametrize("mode", ["development", "extended"])
def test_every_endpoint_validates(
    mode: str, client: EmulatorClient, client_extended: EmulatorClient
) -> None:
    c = client if mode == "development" else client_extended
    user = c.user_token(ALL_SCOPES)
    ids = _ids(c, user)
    for path, params in [*_catalog_calls(ids), *_USER_CALLS]:
        response = c.get(path, user, params)
        assert response.status_code == 200, (path, response.text)
    # Every playlist of the user, with all its oddities (null entries, local files, episodes).
    for playlist in c.walk("/me/playlists", user, {"limit": 50}):
        for item in playlist["items"]:
            c.get(f"/playlists/{item['id']}", user)
            if mode == "extended":
                c.walk(f"/playlists/{item['id']}/tracks", user, {"limit": 100})
            elif item["owner"]["id"] == c.server.config.user_id or item["collaborative"]:
                c.walk(f"/playlists/{item['id']}/items", user, {"limit": 50})


def test_extended_only_endpoints_validate(client_extended: EmulatorClient) -> None:
    c = client_extended
    token = c.app_token()
    ids = _ids(c, token)
    unknown_track = "0" * 22
    calls: list[tuple[str, dict[str, Any]]] = [
        ("/artists", {"ids": ",".join([ids["artist"]] * 3)}),
        ("/albums", {"ids": ids["album"]}),
        ("/tracks", {"ids": f"{ids['track']},{unknown_track}"}),
        (f"/artists/{ids['artist']}/top-tracks", {"market": "SE"}),
        (f"/artists/{ids['artist']}/related-artists", {}),
        (f"/audio-features/{ids['track']}", {}),
        ("/audio-features", {"ids": ids["track"]}),
        ("/markets", {}),
        ("/browse/new-releases", {"limit": 50}),
        ("/users/emulator-user", {}),
        ("/users/spotify/playlists", {}),
    ]
    for path, params in calls:
        response = c.get(path, token, params)
        assert response.status_code == 200, (path, response.text)


def test_error_answers_validate(client: EmulatorClient) -> None:
    c = client
    token = c.app_token()
    ids = _ids(c, token)
    cases: list[tuple[str, str | None, dict[str, Any], int, str]] = [
        ("/search", token, {"q": "x", "type": "track", "limit": 11}, 400, "Invalid limit"),
        ("/search", token, {"q": "x", "type": "track", "offset": 1001}, 400, "Invalid offset"),
        ("/search", token, {"q": "x", "type": "single"}, 400, "Bad search type field"),
        ("/search", token, {"type": "track"}, 400, "No search query"),
        (f"/artists/{ids['artist']}/albums", token, {"limit": 11}, 400, "Invalid limit"),
        (f"/albums/{ids['album']}/tracks", token, {"limit": 51}, 400, "Invalid limit"),
        ("/tracks/not-an-id", token, {}, 400, "invalid id"),
        ("/tracks/" + "0" * 22, token, {}, 404, "Resource not found"),
        (f"/albums/{ids['track']}", token, {}, 404, "Resource not found"),
        (f"/tracks/{ids['track']}", None, {}, 401, "No token provided"),
        (f"/tracks/{ids['track']}", "bogus", {}, 401, "Invalid access token"),
        ("/me", token, {}, 403, "Insufficient client scope"),
        ("/tracks", token, {"ids": ids["track"]}, 403, "Forbidden"),
        ("/nonexistent", token, {}, 404, "Service not found"),
    ]
    for path, tok, params, status, message in cases:
        response = c.get(path, tok, params)
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"] == {"status": status, "message": message}


def test_strict_contract_holds_without_oddities(make_emulator: Any, spotify_contract: Any) -> None:
    """With the oddity rates at zero, playlist bodies need only the README's two relaxations."""
    server = make_emulator(null_item_rate=0.0, local_file_rate=0.0, episode_rate=0.0)
    c = EmulatorClient(server, spotify_contract)
    user = c.user_token()
    for playlist in c.walk("/me/playlists", user, {"limit": 50}):
        for item in playlist["items"][:8]:
            if item["owner"]["id"] == server.config.user_id:
                response = c.get(f"/playlists/{item['id']}/items", user, {"limit": 50})
                spotify_contract.validate(response, strict=True)
