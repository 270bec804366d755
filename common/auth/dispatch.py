"""Who may call `POST /v1/notifications/dispatch`: Cloud Scheduler, or a holder of the secret.

Two credentials are accepted; anything else is `401`:
- `X-Dispatch-Token`: compared in constant time with `DISPATCH_TOKEN`. When the header is
  present it alone decides.
- `Authorization: Bearer <Google-signed OIDC token>` (production: Cloud Scheduler). Verified
  with google-auth against Google's published certificates (`GOOGLE_CERTS_URL`): signature,
  expiry, issuer (accounts.google.com), audience `DISPATCH_AUDIENCE` (the dispatch URL) and
  the caller's verified email `DISPATCH_SERVICE_ACCOUNT` (the scheduler's service account).
  The email matters: any Google service account can mint a token for any audience. Without
  both settings, OIDC tokens are refused.

"""

from __future__ import annotations

import functools
import hmac
from typing import Any, Final, cast

import flask

from common import errors
from common.config import get_settings

# Google's OAuth2 certificates (x509, by key id): the keys that sign Google OIDC tokens.
# A module constant so a test can point the real verifier at a key set it controls.
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS: Final = frozenset({"accounts.google.com", "https://accounts.google.com"})
CERTS_TIMEOUT_S: Final = 10.0


@functools.cache
def _transport() -> Any:
    """One HTTP session per process for fetching the certificates."""
    from google.auth.transport.requests import Request

    return Request()


def _bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def authorize_dispatch(request: flask.Request) -> None:
    """Raise `Unauthorized` unless the request carries one of the accepted credentials."""
    settings = get_settings()
    given = request.headers.get("X-Dispatch-Token")
    if given is not None:
        expected = settings.dispatch_token
        if expected is None or not hmac.compare_digest(
            _bytes(given), _bytes(expected.get_secret_value())
        ):
            raise errors.Unauthorized("The dispatch token is not valid.")
        return
    header = request.headers.get("Authorization")
    if header is None:
        raise errors.Unauthorized(
            "Dispatch needs a Google OIDC token or the dispatch token.", error=None
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthorized("The Authorization header is not a Bearer token.")
    _verify_google_oidc(
        token.strip(), settings.dispatch_audience, settings.dispatch_service_account
    )


def _verify_google_oidc(token: str, audience: str | None, caller: str | None) -> None:
    if not audience or not caller:
        raise errors.Unauthorized("OIDC tokens are not accepted: no audience or caller is set.")
    from google.auth import exceptions as google_errors
    from google.auth import transport
    from google.oauth2 import id_token

    # The shared session, with a timeout verify_token does not pass itself.
    fetch = cast(transport.Request, functools.partial(_transport(), timeout=CERTS_TIMEOUT_S))
    try:
        claims = id_token.verify_token(token, fetch, audience=audience, certs_url=GOOGLE_CERTS_URL)
    except google_errors.TransportError:
        raise errors.ServiceUnavailable("Google's signing keys cannot be fetched.") from None
    except (ValueError, google_errors.GoogleAuthError):
        # Malformed, wrongly signed, unknown key, expired, or another audience.
        raise errors.Unauthorized("The OIDC token is not valid.") from None
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise errors.Unauthorized("The OIDC token was not issued by Google.")
    if claims.get("email") != caller or claims.get("email_verified") is not True:
        raise errors.Unauthorized("The OIDC token is not the scheduler's.")
