"""Paging of every paged endpoint, catalog consistency, history sliding and flat memory."""

from __future__ import annotations

import gc
import random
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import requests
from emulator_support import EmulatorClient

from extract.emulator import EmulatorConfig, EmulatorServer, EmulatorState, IdCodec, Kind
from extract.emulator.catalog import TRACK_SLOTS_PER_ALBUM


def _walk_ids(
    c: EmulatorClient,
    path: str,
    token: str,
    params: dict[str, Any],
    key: Any,
    container: str | None = None,
) -> None:
    pages = c.walk(path, token, params, container)
    total = pages[0]["total"]
    seen = [key(item) for page in pages for item in page["items"]]
    assert len(seen) == total, path
    assert len(set(seen)) == total, f"duplicates in {path}"
    for number, page in enumerate(pages):
        assert page["offset"] == number * page["limit"]
        assert (page["previous"] is None) == (number == 0)


def test_walk_every_offset_paged_endpoint(client: EmulatorClient) -> None:
    c = client
    token = c.user_token()
    by_id = lambda item: item["id"]  # noqa: E731
    _walk_ids(c, "/me/tracks", token, {"limit": 50}, lambda i: i["track"]["id"])
    _walk_ids(c, "/me/albums", token, {"limit": 50}, lambda i: i["album"]["id"])
    _walk_ids(c, "/me/playlists", token, {"limit": 7}, by_id)
    for time_range in ("short_term", "medium_term", "long_term"):
        params = {"time_range": time_range, "limit": 50}
        _walk_ids(c, "/me/top/artists", token, params, by_id)
        _walk_ids(c, "/me/top/tracks", token, params, by_id)
    for kind in ("track", "artist", "album", "playlist"):
        params = {"q": f"paging {kind}", "type": kind, "limit": 10}
        _walk_ids(c, "/search", token, params, by_id, container=f"{kind}s")
    artists = c.get("/search", token, {"q": "discography", "type": "artist", "limit": 10})
    for artist in artists.json()["artists"]["items"]:
        _walk_ids(c, f"/artists/{artist['id']}/albums", token, {"limit": 2}, by_id)
    own = c.get("/me/playlists", token, {"limit": 50}).json()["items"]
    long_playlist = own[1]
    assert long_playlist["items"]["total"] == 237
    pages = c.walk(f"/playlists/{long_playlist['id']}/items", token, {"limit": 50})
    assert sum(len(p["items"]) for p in pages) == 237
    empty = c.get(f"/playlists/{own[0]['id']}/items", token).json()
    assert empty["total"] == 0 and empty["items"] == [] and empty["next"] is None


def test_album_and_artist_relations_hold_both_ways(client: EmulatorClient) -> None:
    c = client
    token = c.app_token()
    albums = c.get("/search", token, {"q": "relations", "type": "album", "limit": 10}).json()
    assert len(albums["albums"]["items"]) >= 4
    for simplified in albums["albums"]["items"][:4]:
        album = c.get(f"/albums/{simplified['id']}", token).json()
        assert album["tracks"]["total"] == album["total_tracks"]
        assert album["tracks"]["items"]
        for item in album["tracks"]["items"]:
            track = c.get(f"/tracks/{item['id']}", token).json()
            assert track["album"]["id"] == album["id"]
            assert track["artists"][0]["id"] == album["artists"][0]["id"]
        artist_id = album["artists"][0]["id"]
        discography = c.walk(f"/artists/{artist_id}/albums", token, {"limit": 10})
        assert album["id"] in {a["id"] for page in discography for a in page["items"]}
        for page in discography:
            assert all(a["artists"][0]["id"] == artist_id for a in page["items"])


def test_include_groups_filters(client: EmulatorClient) -> None:
    c = client
    token = c.app_token()
    artists = c.get("/search", token, {"q": "groups", "type": "artist", "limit": 10}).json()
    assert artists["artists"]["items"]
    for artist in artists["artists"]["items"]:
        path = f"/artists/{artist['id']}/albums"
        everything = {a["id"]: a["album_type"] for p in c.walk(path, token) for a in p["items"]}
        singles = c.walk(path, token, {"include_groups": "single"})
        assert {a["id"] for p in singles for a in p["items"]} == {
            i for i, t in everything.items() if t == "single"
        }
        assert "include_groups=single" in singles[0]["href"]


def test_followed_artists_cursor_paging(client: EmulatorClient) -> None:
    c = client
    token = c.user_token()
    seen: list[str] = []
    response = c.get("/me/following", token, {"type": "artist", "limit": 20})
    while True:
        body = response.json()["artists"]
        seen.extend(a["id"] for a in body["items"])
        if not body["next"]:
            break
        assert body["cursors"]["after"] == body["items"][-1]["id"]
        response = c.get(body["next"], token)
    assert len(seen) == body["total"] == 75
    assert len(set(seen)) == len(seen)
    assert seen == sorted(seen)
    bad = c.get("/me/following", token, {"type": "album"})
    assert bad.status_code == 400


def test_recently_played_window_slides_with_the_clock(client: EmulatorClient) -> None:
    c = client
    token = c.user_token()
    first = c.get("/me/player/recently-played", token, {"limit": 50}).json()
    assert len(first["items"]) == 50
    played = [i["played_at"] for i in first["items"]]
    assert played == sorted(played, reverse=True)
    assert all(p.endswith("Z") and len(p) == len("2026-11-24T06:40:28.123Z") for p in played)
    assert any(i["context"] is None for i in first["items"])
    assert any(i["context"] is not None for i in first["items"])
    # Walking with `before` never shows more than the last 50 plays.
    walked = []
    response = c.get("/me/player/recently-played", token, {"limit": 20}).json()
    while True:
        walked.extend(response["items"])
        if not response["next"]:
            break
        response = c.get(response["next"], token).json()
    assert [i["played_at"] for i in walked] == played
    # A day later, only plays after the last cursor are new; the window slid.
    newest_ms = int(first["cursors"]["after"])
    c.server.advance_clock(24 * 3600)
    token = c.user_token()  # the old one expired meanwhile
    newer = c.get("/me/player/recently-played", token, {"limit": 50, "after": newest_ms}).json()
    assert newer["items"]
    assert all(_ms(i["played_at"]) > newest_ms for i in newer["items"])
    latest = c.get("/me/player/recently-played", token, {"limit": 50}).json()
    assert latest["items"][0]["played_at"] > first["items"][0]["played_at"]
    assert not {i["played_at"] for i in latest["items"]} & set(played)
    both = c.get("/me/player/recently-played", token, {"after": 1, "before": 2})
    assert both.status_code == 400


def _ms(text: str) -> int:
    return int(
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() * 1000
    )


def test_plays_are_deterministic_and_visible_through_admin(make_emulator: Any) -> None:
    a, b = make_emulator(seed=3), make_emulator(seed=3)
    now = a.clock.now_ms()
    window = {"start_ms": now - 86_400_000, "end_ms": now}
    plays_a = requests.get(f"{a.accounts_url}/_emulator/plays", params=window, timeout=10).json()
    plays_b = requests.get(f"{b.accounts_url}/_emulator/plays", params=window, timeout=10).json()
    assert plays_a == plays_b and len(plays_a["items"]) > 50


def test_oddities_are_present(client: EmulatorClient) -> None:
    c = client
    token = c.user_token()
    entries = [
        e
        for p in c.walk("/me/playlists", token, {"limit": 50})
        for pl in p["items"]
        if pl["owner"]["id"] == c.server.config.user_id or pl["collaborative"]
        for page in c.walk(f"/playlists/{pl['id']}/items", token, {"limit": 50})
        for e in page["items"]
    ]
    assert any(e["item"] is None for e in entries)
    local = [e for e in entries if e["is_local"]]
    assert local and all(e["item"]["id"] is None for e in local)
    assert all(e["item"]["uri"].startswith("spotify:local:") for e in local)
    assert any(e["item"] and e["item"]["type"] == "episode" for e in entries)
    tracks = [e["item"] for e in entries if e["item"] and e["item"]["type"] == "track"]
    assert any(len(t["artists"]) > 1 for t in tracks)
    assert any(t["explicit"] for t in tracks)
    precisions = {t["album"]["release_date_precision"] for t in tracks if not t["is_local"]}
    assert precisions == {"year", "month", "day"}
    names = " ".join(t["name"] for t in tracks)
    assert any(ord(ch) > 0x2000 for ch in names)
    market = c.get("/me/tracks", token, {"limit": 50, "market": "from_token"})
    assert "is_playable" in market.json()["items"][0]["track"]


def test_ids_are_base62_and_reversible() -> None:
    codec = IdCodec(seed=5)
    rng = random.Random(0)
    for _ in range(200):
        index = rng.randrange(10**9)
        ident = codec.encode(Kind.TRACK, index)
        assert len(ident) == 22 and ident.isalnum()
        assert codec.decode(Kind.TRACK, ident) == index
        assert codec.decode(Kind.ALBUM, ident) is None
    assert IdCodec(seed=6).decode(Kind.TRACK, codec.encode(Kind.TRACK, 1)) is None
    assert codec.decode(Kind.TRACK, "z" * 22) is None
    assert codec.decode(Kind.TRACK, "short") is None


def test_catalog_is_deterministic() -> None:
    one = EmulatorState(EmulatorConfig(seed=9, scale=2_000)).catalog
    two = EmulatorState(EmulatorConfig(seed=9, scale=2_000)).catalog
    other = EmulatorState(EmulatorConfig(seed=10, scale=2_000)).catalog
    slots = [s for s in range(0, 40 * TRACK_SLOTS_PER_ALBUM) if one.track_exists(s)]
    assert slots
    assert [one.track(s) for s in slots] == [two.track(s) for s in slots]
    assert one.track(slots[0]).id != other.track(slots[0]).id


def test_million_track_catalog_keeps_memory_flat() -> None:
    """Serving objects from a 1,000,000-track catalog allocates only bounded caches."""
    config = EmulatorConfig(seed=1, scale=1_000_000)
    gc.collect()
    tracemalloc.start()
    try:
        with EmulatorServer(config) as server:
            catalog = server.state.catalog
            assert catalog.estimated_track_count() >= 950_000
            token = requests.post(
                f"{server.accounts_url}/api/token",
                data={"grant_type": "client_credentials"},
                auth=(config.client_id, config.client_secret),
                timeout=10,
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            rng = random.Random(1)
            fetched = 0
            session = requests.Session()
            for _ in range(60):
                artist = rng.randrange(catalog.n_artists)
                album = catalog.artist_albums(artist)[0]
                url = f"{server.api_url}/albums/{catalog.album(album).id}/tracks?limit=50"
                response = session.get(url, headers=headers)
                assert response.status_code == 200
                fetched += len(response.json()["items"])
                last = response.json()["items"][-1]["id"]
                assert session.get(f"{server.api_url}/tracks/{last}", headers=headers).ok
            assert fetched > 60
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
