"""Helpers of the emulator suites: a validating HTTP client and PKCE pairs."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from contract import SpotifyContract

from extract.emulator import (
    DEFAULT_CLIENT_ID,
    PROJECT_SCOPES,
    EmulatorServer,
)

REDIRECT_URI = "http://127.0.0.1:8888/callback"
TEST_SCALE = 10_000


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


class EmulatorClient:
    """A thin HTTP client for tests: obtains tokens and validates every API answer."""

    def __init__(self, server: EmulatorServer, contract: SpotifyContract) -> None:
        self.server = server
        self.contract = contract
        self.session = requests.Session()

    # -------------------------------------------------------------- accounts
    def app_token(self) -> str:
        response = self.session.post(
            f"{self.server.accounts_url}/api/token",
            data={"grant_type": "client_credentials"},
            auth=(DEFAULT_CLIENT_ID, self.server.config.client_secret),
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def authorize(
        self, scopes: tuple[str, ...] = PROJECT_SCOPES, redirect_uri: str = REDIRECT_URI
    ) -> tuple[str, str]:
        """Run /authorize; return ``(code, verifier)``."""
        verifier, challenge = pkce_pair()
        response = self.session.get(
            f"{self.server.accounts_url}/authorize",
            params={
                "client_id": DEFAULT_CLIENT_ID,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "code_challenge_method": "S256",
                "code_challenge": challenge,
                "scope": " ".join(scopes),
                "state": "s1",
            },
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == ["s1"]
        return query["code"][0], verifier

    def exchange(self, code: str, verifier: str, redirect_uri: str = REDIRECT_URI) -> Any:
        return self.session.post(
            f"{self.server.accounts_url}/api/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": DEFAULT_CLIENT_ID,
                "code_verifier": verifier,
            },
        )

    def user_tokens(self, scopes: tuple[str, ...] = PROJECT_SCOPES) -> dict[str, Any]:
        code, verifier = self.authorize(scopes)
        response = self.exchange(code, verifier)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def user_token(self, scopes: tuple[str, ...] = PROJECT_SCOPES) -> str:
        return str(self.user_tokens(scopes)["access_token"])

    def refresh(self, refresh_token: str) -> Any:
        return self.session.post(
            f"{self.server.accounts_url}/api/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": DEFAULT_CLIENT_ID,
            },
        )

    # -------------------------------------------------------------- Web API
    def get(
        self, path: str, token: str | None, params: dict[str, Any] | None = None
    ) -> requests.Response:
        """GET ``path`` (relative to /v1, or an absolute URL) and validate the answer."""
        url = path if path.startswith("http") else f"{self.server.api_url}{path}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.session.get(url, params=params, headers=headers)
        self.contract.validate(response)
        return response

    def walk(
        self,
        path: str,
        token: str,
        params: dict[str, Any] | None = None,
        container: str | None = None,
    ) -> list[Any]:
        """Follow ``next`` links of an offset-paged endpoint; return every page.

        ``container`` names the key holding the paging object (``tracks`` for a search).
        """
        pages = []
        response = self.get(path, token, params)
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            if container is not None:
                body = body[container]
            pages.append(body)
            if not body["next"]:
                return pages
            response = self.get(body["next"], token)
