"""Test data made through the API: accounts registered over HTTP, as a client would.

API tests isolate themselves by creating their own users; every account here has a unique
random email and a strong random password, so tests never collide (or trip the login
throttle of another test).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any


@dataclass
class Account:
    """A registered user, its password and the token pair it got at registration."""

    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this account's access token."""
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email() -> str:
    return f"user-{secrets.token_hex(8)}@example.com"


def strong_password() -> str:
    return f"pw-{secrets.token_urlsafe(18)}"


def register(
    client: Any,
    *,
    email: str | None = None,
    password: str | None = None,
    username: str = "someone",
    timezone: str | None = None,
    display_name: str | None = None,
) -> Account:
    """Register an account through `POST /v1/auth/register` and assert the `201`."""
    email = email if email is not None else unique_email()
    password = password if password is not None else strong_password()
    body: dict[str, Any] = {"email": email, "password": password, "username": username}
    if timezone is not None:
        body["timezone"] = timezone
    if display_name is not None:
        body["display_name"] = display_name
    response = client.post("/v1/auth/register", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    data = response.get_json()
    return Account(
        id=data["user"]["id"],
        email=email,
        password=password,
        access_token=data["tokens"]["access_token"],
        refresh_token=data["tokens"]["refresh_token"],
    )
