"""Development vs extended mode, rate limiting and seeded fault injection."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from emulator_support import EmulatorClient

from extract.emulator import EmulatorServer

REMOVED_IN_DEVELOPMENT = [
    ("/artists", {"ids": "{artist}"}),
    ("/albums", {"ids": "{album}"}),
    ("/tracks", {"ids": "{track}"}),
    ("/artists/{artist}/top-tracks", {}),
    ("/artists/{artist}/related-artists", {}),
    ("/browse/new-releases", {}),
    ("/browse/categories", {}),
    ("/browse/featured-playlists", {}),
    ("/markets", {}),
    ("/users/emulator-user", {}),
    ("/users/emulator-user/playlists", {}),
    ("/audio-features", {"ids": "{track}"}),
    ("/audio-features/{track}", {}),
    ("/audio-analysis/{track}", {}),
    ("/recommendations", {"seed_genres": "folk"}),
    ("/playlists/{playlist}/tracks", {}),
]


def _some_ids(c: EmulatorClient, token: str) -> dict[str, str]:
    body = c.get("/search", token, {"q": "ids", "type": "artist,album,track,playlist"}).json()
    return {k: body[f"{k}s"]["items"][0]["id"] for k in ("artist", "album", "track", "playlist")}


def test_development_mode_forbids_removed_endpoints(client: EmulatorClient) -> None:
    token = client.user_token()
    ids = _some_ids(client, token)
    for path, params in REMOVED_IN_DEVELOPMENT:
        filled = {k: v.format(**ids) for k, v in params.items()}
        response = client.get(path.format(**ids), token, filled)
        assert response.status_code == 403, path
        assert response.json() == {"error": {"status": 403, "message": "Forbidden"}}


def test_development_mode_drops_deprecated_fields(client: EmulatorClient) -> None:
    token = client.user_token()
    ids = _some_ids(client, token)
    track = client.get(f"/tracks/{ids['track']}", token).json()
    assert not {"popularity", "available_markets", "linked_from", "preview_url"} & set(track)
    assert "external_ids" in track and "isrc" in track["external_ids"]
    album = client.get(f"/albums/{ids['album']}", token).json()
    assert not {"popularity", "label", "available_markets", "genres"} & set(album)
    assert "upc" in album["external_ids"]
    artist = client.get(f"/artists/{ids['artist']}", token).json()
    assert not {"popularity", "followers", "genres"} & set(artist)
    discography = client.get(f"/artists/{ids['artist']}/albums", token).json()
    assert all("album_group" not in a for a in discography["items"])
    playlists = client.get("/me/playlists", token).json()["items"]
    assert all("items" in p and "tracks" not in p for p in playlists)
    own = playlists[1]
    full = client.get(f"/playlists/{own['id']}", token).json()
    assert "items" in full and "tracks" not in full
    assert all("item" in e and "track" not in e for e in full["items"]["items"])
    # Someone else's playlist: metadata only, and its items are forbidden.
    other = next(
        p
        for p in playlists
        if p["owner"]["id"] != client.server.config.user_id and not p["collaborative"]
    )
    meta = client.get(f"/playlists/{other['id']}", token).json()
    assert "items" not in meta
    assert client.get(f"/playlists/{other['id']}/items", token).status_code == 403


def test_extended_mode_serves_everything(client_extended: EmulatorClient) -> None:
    c = client_extended
    token = c.user_token()
    ids = _some_ids(c, token)
    track = c.get(f"/tracks/{ids['track']}", token).json()
    assert {"popularity", "available_markets", "preview_url"} <= set(track)
    album = c.get(f"/albums/{ids['album']}", token).json()
    assert {"popularity", "label", "available_markets", "genres"} <= set(album)
    artist = c.get(f"/artists/{ids['artist']}", token).json()
    assert {"popularity", "followers", "genres"} <= set(artist)
    discography = c.get(f"/artists/{ids['artist']}/albums", token).json()
    assert all("album_group" in a for a in discography["items"])
    playlist = c.get("/me/playlists", token).json()["items"][1]
    assert "tracks" in playlist and "items" not in playlist
    entries = c.get(f"/playlists/{playlist['id']}/tracks", token, {"limit": 100}).json()
    assert all("track" in e and "item" not in e for e in entries["items"])
    many = c.get("/tracks", token, {"ids": ",".join([ids["track"]] * 50)})
    assert many.status_code == 200 and len(many.json()["tracks"]) == 50
    too_many = c.get("/tracks", token, {"ids": ",".join([ids["track"]] * 51)})
    assert too_many.status_code == 400
    assert c.get("/albums", token, {"ids": ",".join([ids["album"]] * 21)}).status_code == 400
    assert c.get("/artists", token, {"ids": ",".join([ids["artist"]] * 50)}).status_code == 200
    assert c.get("/recommendations", token).status_code == 403


def test_rate_limit_answers_429_with_retry_after(make_emulator: Any, spotify_contract: Any) -> None:
    server = make_emulator(rate_budget=5, rate_window=30)
    c = EmulatorClient(server, spotify_contract)
    token = c.app_token()
    statuses = [c.get("/search", token, {"q": "a", "type": "artist"}).status_code for _ in range(5)]
    assert statuses == [200] * 5
    limited = c.get("/search", token, {"q": "a", "type": "artist"})
    assert limited.status_code == 429
    assert limited.json() == {
        "error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}
    }
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 30
    server.advance_clock(retry_after)
    assert c.get("/search", token, {"q": "a", "type": "artist"}).status_code == 200
    stats = requests.get(f"{server.accounts_url}/_emulator/stats", timeout=10).json()
    assert stats["endpoints"]["GET /v1/search"]["statuses"] == {"200": 6, "429": 1}
    assert stats["events"]["rate_limited"] == 1


def _status_sequence(server: EmulatorServer, token: str, n: int) -> list[int]:
    url = f"{server.api_url}/search"
    headers = {"Authorization": f"Bearer {token}"}
    return [
        requests.get(
            url, params={"q": "f", "type": "track"}, headers=headers, timeout=10
        ).status_code
        for _ in range(n)
    ]


def test_faults_are_reproducible_under_a_seed(make_emulator: Any, spotify_contract: Any) -> None:
    sequences = []
    for seed in (11, 11, 12):
        server = make_emulator(fault_rate=0.3, fault_seed=seed)
        token = EmulatorClient(server, spotify_contract).app_token()
        sequences.append(_status_sequence(server, token, 40))
    assert sequences[0] == sequences[1]
    assert sequences[0] != sequences[2]
    assert {500, 502, 503} & set(sequences[0])
    assert 200 in sequences[0]


def test_injected_errors_validate(make_emulator: Any, spotify_contract: Any) -> None:
    server = make_emulator(fault_rate=1.0)
    c = EmulatorClient(server, spotify_contract)
    token = c.app_token()
    for _ in range(5):
        response = c.get("/search", token, {"q": "f", "type": "track"})
        assert response.status_code in (500, 502, 503)


def test_truncated_bodies(make_emulator: Any, spotify_contract: Any) -> None:
    server = make_emulator(truncate_rate=1.0)
    token = EmulatorClient(server, spotify_contract).app_token()
    response = requests.get(
        f"{server.api_url}/search",
        params={"q": "t", "type": "track"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_tokens_revoked_mid_run(make_emulator: Any, spotify_contract: Any) -> None:
    server = make_emulator(revoke_after_requests=4)
    c = EmulatorClient(server, spotify_contract)
    tokens = c.user_tokens()
    statuses = [c.get("/me", tokens["access_token"]).status_code for _ in range(6)]
    assert statuses == [200, 200, 200, 401, 401, 401]
    fresh = c.refresh(tokens["refresh_token"]).json()["access_token"]
    assert c.get("/me", fresh).status_code == 200


def test_latency_is_injected(make_emulator: Any, spotify_contract: Any) -> None:
    server = make_emulator(latency_ms=20)
    token = EmulatorClient(server, spotify_contract).app_token()
    assert _status_sequence(server, token, 2) == [200, 200]


def test_admin_endpoints(emulator: EmulatorServer) -> None:
    base = f"{emulator.accounts_url}/_emulator"
    before = requests.get(f"{base}/clock", timeout=10).json()
    after = requests.post(f"{base}/clock", json={"advance_seconds": 90}, timeout=10).json()
    assert after["now_ms"] - before["now_ms"] == 90_000
    jumped = requests.post(f"{base}/clock", json={"set": "2026-12-01T00:00:00Z"}, timeout=10).json()
    assert jumped["now"] == "2026-12-01T00:00:00.000Z"
    assert requests.post(f"{base}/clock", json={}, timeout=10).status_code == 400
    assert requests.get(f"{base}/health", timeout=10).json() == {"ok": True}
    config = requests.get(f"{base}/config", timeout=10).json()
    assert "client_secret" not in config and config["mode"] == "development"
    assert requests.post(f"{base}/stats/reset", timeout=10).json() == {"reset": True}
    assert requests.post(f"{base}/rate-limit/reset", timeout=10).json() == {"reset": True}
    plays = requests.get(
        f"{base}/plays", params={"start_ms": after["now_ms"] - 86_400_000}, timeout=10
    )
    assert plays.status_code == 200 and plays.json()["items"]


def test_cli_help_and_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    from spotify_elt.cli.emulator import emulator

    runner = CliRunner()
    help_text = runner.invoke(emulator, ["serve", "--help"])
    assert help_text.exit_code == 0
    assert "--client-secret-env" in help_text.output and "--client-secret " not in help_text.output
    served: list[EmulatorServer] = []
    monkeypatch.setattr(EmulatorServer, "serve_forever", lambda self: served.append(self))
    monkeypatch.setenv("SPOTIFY_ELT_EMULATOR_CLIENT_SECRET", "from-env")
    result = runner.invoke(
        emulator, ["serve", "--port", "0", "--scale", "500", "--mode", "extended", "--frozen-clock"]
    )
    try:
        assert result.exit_code == 0, result.output
        assert "accounts: http://127.0.0.1:" in result.output
        assert "/v1" in result.output
        assert served[0].config.client_secret == "from-env"
        assert served[0].config.mode == "extended"
    finally:
        for server in served:
            server.stop()
