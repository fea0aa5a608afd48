"""Accounts service: client credentials, PKCE, refresh, expiry, revocation and scopes."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from emulator_support import REDIRECT_URI, EmulatorClient, pkce_pair

from extract.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorServer


def _token(server: EmulatorServer, data: dict[str, str], auth: Any = None) -> Any:
    import requests

    return requests.post(f"{server.accounts_url}/api/token", data=data, auth=auth, timeout=10)


def test_client_credentials_success(client: EmulatorClient) -> None:
    response = _token(
        client.server,
        {"grant_type": "client_credentials"},
        (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600


def test_client_credentials_in_form_body(client: EmulatorClient) -> None:
    response = _token(
        client.server,
        {
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("auth", "status", "description"),
    [
        ((DEFAULT_CLIENT_ID, "wrong"), 401, "Invalid client secret"),
        (("someone-else", DEFAULT_CLIENT_SECRET), 401, "Invalid client"),
    ],
)
def test_client_credentials_wrong_client(
    client: EmulatorClient, auth: tuple[str, str], status: int, description: str
) -> None:
    response = _token(client.server, {"grant_type": "client_credentials"}, auth)
    assert response.status_code == status
    assert response.json() == {"error": "invalid_client", "error_description": description}
    assert response.headers["www-authenticate"].startswith("Basic")


def test_grant_type_errors(client: EmulatorClient) -> None:
    auth = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    missing = _token(client.server, {}, auth)
    assert missing.status_code == 400
    assert missing.json()["error"] == "unsupported_grant_type"
    assert missing.json()["error_description"] == "grant_type parameter is missing"
    unknown = _token(client.server, {"grant_type": "password"}, auth)
    assert unknown.json()["error"] == "unsupported_grant_type"
    no_secret = _token(
        client.server, {"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID}
    )
    assert no_secret.status_code == 400
    assert no_secret.json()["error"] == "invalid_client"


def test_pkce_success(client: EmulatorClient) -> None:
    tokens = client.user_tokens(("user-top-read", "user-read-recently-played", "not-a-scope"))
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "user-read-recently-played user-top-read"
    assert tokens["refresh_token"]
    me = client.get("/me", tokens["access_token"])
    assert me.status_code == 200
    assert me.json()["id"] == client.server.config.user_id


def test_pkce_wrong_verifier(client: EmulatorClient) -> None:
    code, _ = client.authorize()
    other_verifier, _ = pkce_pair()
    response = client.exchange(code, other_verifier)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "code_verifier was incorrect",
    }


def test_pkce_missing_verifier(client: EmulatorClient) -> None:
    code, _ = client.authorize()
    response = client.exchange(code, "")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_pkce_code_is_single_use(client: EmulatorClient) -> None:
    code, verifier = client.authorize()
    assert client.exchange(code, verifier).status_code == 200
    again = client.exchange(code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_pkce_code_expires(make_emulator: Any, spotify_contract: Any) -> None:
    server = make_emulator(code_ttl=60)
    c = EmulatorClient(server, spotify_contract)
    code, verifier = c.authorize()
    server.advance_clock(61)
    response = c.exchange(code, verifier)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Authorization code expired",
    }


def test_pkce_redirect_uri_must_match(client: EmulatorClient) -> None:
    code, verifier = client.authorize(redirect_uri="http://127.0.0.1:4321/callback")
    response = client.exchange(code, verifier, redirect_uri=REDIRECT_URI)
    assert response.status_code == 400
    assert response.json()["error_description"] == "Invalid redirect URI"


def test_pkce_unknown_code(client: EmulatorClient) -> None:
    response = client.exchange("AQnot-a-code", "v" * 50)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_exchange_with_unknown_client(client: EmulatorClient) -> None:
    code, verifier = client.authorize()
    response = _token(
        client.server,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": "intruder",
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


def _authorize(server: EmulatorServer, **params: str) -> Any:
    import requests

    _, challenge = pkce_pair()
    query = {
        "client_id": DEFAULT_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "code_challenge_method": "S256",
        "code_challenge": challenge,
        "scope": "user-top-read",
        "state": "abc",
    }
    query.update(params)
    query = {k: v for k, v in query.items() if v != "<omit>"}
    return requests.get(
        f"{server.accounts_url}/authorize", params=query, allow_redirects=False, timeout=10
    )


def test_authorize_refuses_unknown_client_and_redirect(client: EmulatorClient) -> None:
    unknown = _authorize(client.server, client_id="intruder")
    assert unknown.status_code == 400
    assert "location" not in unknown.headers
    for uri in ("http://localhost:8888/callback", "https://evil.example/callback"):
        refused = _authorize(client.server, redirect_uri=uri)
        assert refused.status_code == 400
        assert "Invalid redirect URI" in refused.text


def test_authorize_loopback_any_port_and_errors(client: EmulatorClient) -> None:
    ok = _authorize(client.server, redirect_uri="http://127.0.0.1:59999/callback")
    assert ok.status_code == 302
    assert ok.headers["location"].startswith("http://127.0.0.1:59999/callback?code=")
    missing = _authorize(client.server, code_challenge="<omit>")
    query = parse_qs(urlsplit(missing.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert query["state"] == ["abc"]
    plain = _authorize(client.server, code_challenge_method="plain")
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]
    bad_type = _authorize(client.server, response_type="token")
    error = parse_qs(urlsplit(bad_type.headers["location"]).query)["error"]
    assert error == ["unsupported_response_type"]


def test_refresh_keeps_refresh_token(client: EmulatorClient) -> None:
    tokens = client.user_tokens()
    first = client.refresh(tokens["refresh_token"])
    assert first.status_code == 200
    assert "refresh_token" not in first.json()
    assert first.json()["scope"] == tokens["scope"]
    second = client.refresh(tokens["refresh_token"])
    assert second.status_code == 200
    assert client.get("/me", second.json()["access_token"]).status_code == 200


def test_refresh_rotates_refresh_token(make_emulator: Any, spotify_contract: Any) -> None:
    server = make_emulator(rotate_refresh_tokens=True)
    c = EmulatorClient(server, spotify_contract)
    tokens = c.user_tokens()
    rotated = c.refresh(tokens["refresh_token"])
    assert rotated.status_code == 200
    new_refresh = rotated.json()["refresh_token"]
    assert new_refresh != tokens["refresh_token"]
    stale = c.refresh(tokens["refresh_token"])
    assert stale.status_code == 400
    assert stale.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}
    assert c.refresh(new_refresh).status_code == 200


def test_refresh_with_wrong_client_or_token(client: EmulatorClient) -> None:
    tokens = client.user_tokens()
    bogus = client.refresh("AQbogus")
    assert bogus.json()["error"] == "invalid_grant"
    wrong_secret = _token(
        client.server,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        (DEFAULT_CLIENT_ID, "nope"),
    )
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"


def test_access_token_expires(make_emulator: Any, spotify_contract: Any) -> None:
    server = make_emulator(token_ttl=1)
    c = EmulatorClient(server, spotify_contract)
    tokens = c.user_tokens()
    assert tokens["expires_in"] == 1
    assert c.get("/me", tokens["access_token"]).status_code == 200
    server.advance_clock(1)
    expired = c.get("/me", tokens["access_token"])
    assert expired.status_code == 401
    assert expired.json() == {"error": {"status": 401, "message": "The access token expired"}}
    fresh = c.refresh(tokens["refresh_token"]).json()["access_token"]
    assert c.get("/me", fresh).status_code == 200


def test_revocation_over_http(client: EmulatorClient) -> None:
    import requests

    token = client.user_token()
    revoked = requests.post(
        f"{client.server.accounts_url}/_emulator/tokens/revoke", json={}, timeout=10
    )
    assert revoked.json()["revoked"] >= 1
    response = client.get("/me", token)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid access token"


def test_scope_enforcement(client: EmulatorClient) -> None:
    token = client.user_token(("user-top-read",))
    assert client.get("/me/top/tracks", token).status_code == 200
    for path, params in (
        ("/me/tracks", {}),
        ("/me/player/recently-played", {}),
        ("/me/following", {"type": "artist"}),
        ("/me/playlists", {}),
    ):
        response = client.get(path, token, params)
        assert response.status_code == 403, path
        assert response.json()["error"]["message"] == "Insufficient client scope"


def test_user_endpoints_need_a_user_token(client: EmulatorClient) -> None:
    app = client.app_token()
    for path in ("/me", "/me/top/artists", "/me/player/recently-played"):
        response = client.get(path, app)
        assert response.status_code == 403
    market = client.get("/search", app, {"q": "a", "type": "track", "market": "from_token"})
    assert market.status_code == 403


def test_malformed_authorization_header(client: EmulatorClient) -> None:
    import requests

    response = requests.get(
        f"{client.server.api_url}/me",
        headers={"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Only valid bearer authentication supported"
