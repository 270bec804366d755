"""Access and refresh tokens: the hostile-token table, rotation, keys, dev keys.

Settings are built here, never read from the outer environment: each test patches
`common.auth.tokens.get_settings` and clears the module's key caches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common import config
from common.auth import tokens
from common.auth.tokens import InvalidToken, TokenConfigError

pytestmark = pytest.mark.unit

ISSUER = "https://api.test.sealy"
AUDIENCE = "sealy-api-test"
DATABASE_URL = "postgresql+pg8000://sealy@localhost/sealy_unit"


@dataclass(frozen=True)
class KeyPair:
    kid: str
    private_pem: str
    public_pem: str

    @property
    def private_key(self) -> Ed25519PrivateKey:
        key = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key


def make_key_pair(prefix: str = "test-") -> KeyPair:
    return KeyPair(*tokens.generate_dev_keypair(kid_prefix=prefix))


def make_settings(
    *, ring: list[KeyPair], signer: KeyPair | None, **overrides: Any
) -> config.Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": DATABASE_URL,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "jwt_public_keys": json.dumps({pair.kid: pair.public_pem for pair in ring}),
        "jwt_signing_key": signer.private_pem if signer else None,
        "jwt_signing_kid": signer.kid if signer else None,
    }
    values.update(overrides)
    return config.Settings(_env_file=None, **values)  # type: ignore[call-arg]


def clear_token_caches() -> None:
    tokens.load_key_ring.cache_clear()
    tokens.load_signing_key.cache_clear()
    config.get_settings.cache_clear()


@pytest.fixture
def use_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[config.Settings], None]]:
    """Make `tokens` see the given settings (and forget keys built from earlier ones)."""

    def apply(settings: config.Settings) -> None:
        clear_token_caches()
        monkeypatch.setattr(tokens, "get_settings", lambda: settings)

    yield apply
    clear_token_caches()


@pytest.fixture
def pair() -> KeyPair:
    return make_key_pair()


@pytest.fixture
def configured(pair: KeyPair, use_settings: Callable[[config.Settings], None]) -> KeyPair:
    """A process that both issues and verifies, with one key."""
    use_settings(make_settings(ring=[pair], signer=pair))
    return pair


# --- forging helpers ------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(header: Any, claims: Any, sign: Callable[[bytes], bytes]) -> str:
    """A compact JWS with any header and claims, signed by `sign` over the signing input."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode('ascii')))}"


def header_for(pair: KeyPair, **changes: Any) -> dict[str, Any]:
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": pair.kid}
    header.update(changes)
    return {k: v for k, v in header.items() if v is not DROP}


def claims_for(user_id: uuid.UUID | None = None, **changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id or uuid.uuid4()),
        "iat": now,
        "exp": now + 900,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not DROP}


DROP = object()


def ed25519(pair: KeyPair) -> Callable[[bytes], bytes]:
    return pair.private_key.sign


def hs256(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def signed(pair: KeyPair, **claim_changes: Any) -> str:
    """A token signed by `pair` with the right header and the given claim changes."""
    return forge(header_for(pair), claims_for(**claim_changes), ed25519(pair))


# --- issuing and verifying ------------------------------------------------------------


def test_issued_token_verifies_to_its_user(configured: KeyPair) -> None:
    user_id = uuid.uuid4()
    token, expires_in = tokens.issue_access_token(user_id=user_id)
    assert expires_in == 900
    assert tokens.verify_access_token(token) == user_id


def test_issued_token_has_the_contract_header_and_claims(configured: KeyPair) -> None:
    user_id = uuid.uuid4()
    now = datetime.now(UTC)
    token, _ = tokens.issue_access_token(user_id=user_id, now=now)
    assert jwt.get_unverified_header(token) == {
        "alg": "EdDSA",
        "typ": "at+jwt",
        "kid": configured.kid,
    }
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"iss", "aud", "sub", "iat", "exp", "jti"}
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == str(user_id)
    assert claims["iat"] == int(now.timestamp())
    assert claims["exp"] - claims["iat"] == 900
    assert uuid.UUID(claims["jti"])


def test_every_token_gets_its_own_jti(configured: KeyPair) -> None:
    user_id = uuid.uuid4()
    first, _ = tokens.issue_access_token(user_id=user_id)
    second, _ = tokens.issue_access_token(user_id=user_id)
    jti = [jwt.decode(t, options={"verify_signature": False})["jti"] for t in (first, second)]
    assert jti[0] != jti[1]


def test_issue_refuses_a_naive_now(configured: KeyPair) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        tokens.issue_access_token(user_id=uuid.uuid4(), now=datetime(2030, 1, 1))


def test_expiry_within_leeway_is_tolerated(configured: KeyPair) -> None:
    five_seconds_ago = datetime.now(UTC) - timedelta(seconds=900 + 5)
    token, _ = tokens.issue_access_token(user_id=uuid.uuid4(), now=five_seconds_ago)
    tokens.verify_access_token(token)


def test_leeway_is_at_most_30_seconds() -> None:
    assert timedelta(0) <= tokens.LEEWAY <= timedelta(seconds=30)


def test_key_headers_are_ignored_not_followed(configured: KeyPair) -> None:
    # A genuine token that also carries jku/x5u/jwk still verifies with the ring key ...
    attacker = Ed25519PrivateKey.generate()
    attacker_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(attacker.public_key()))
    header = header_for(
        configured, jku="https://evil.example/jwks", x5u="https://evil.example/x5", jwk=attacker_jwk
    )
    user_id = uuid.uuid4()
    assert (
        tokens.verify_access_token(forge(header, claims_for(user_id), ed25519(configured)))
        == user_id
    )
    # ... and a token signed by the key those headers point to does not.
    with pytest.raises(InvalidToken):
        tokens.verify_access_token(forge(header, claims_for(), attacker.sign))


# --- the hostile-token table ----------------------------------------------------------


def altered_payload(pair: KeyPair) -> str:
    header, _, signature = signed(pair).split(".")
    return f"{header}.{b64url(json.dumps(claims_for()).encode())}.{signature}"


def huge_but_signed(pair: KeyPair) -> str:
    return signed(pair, padding="x" * 4096)


def deeply_nested_header(pair: KeyPair) -> str:
    return f"{b64url(b'[' * 2500)}.{b64url(b'{}')}.{b64url(b'x')}"


def signed_by_ec_key_as_es256(pair: KeyPair) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims_for(), key, algorithm="ES256", headers=header_for(pair, alg="ES256"))


HOSTILE: dict[str, Callable[[KeyPair], str]] = {
    "alg none, empty signature": lambda p: forge(
        header_for(p, alg="none"), claims_for(), lambda _: b""
    ),
    "alg none, with a signature": lambda p: forge(
        header_for(p, alg="none"), claims_for(), lambda _: b"sig"
    ),
    "alg None spelled differently": lambda p: forge(
        header_for(p, alg="nOnE"), claims_for(), lambda _: b"sig"
    ),
    "alg missing": lambda p: forge(header_for(p, alg=DROP), claims_for(), ed25519(p)),
    "HS256 with a guessable secret": lambda p: forge(
        header_for(p, alg="HS256"), claims_for(), hs256(b"secret")
    ),
    "HS256 with the public key PEM": lambda p: forge(
        header_for(p, alg="HS256"), claims_for(), hs256(p.public_pem.encode())
    ),
    "ES256 with a foreign key": signed_by_ec_key_as_es256,
    "signed by a key outside the ring": lambda p: forge(
        header_for(p), claims_for(), Ed25519PrivateKey.generate().sign
    ),
    "payload altered after signing": altered_payload,
    "signature stripped to one byte": lambda p: signed(p).rsplit(".", 1)[0] + ".AA",
    "expired": lambda p: signed(p, iat=claims_for()["iat"] - 960, exp=claims_for()["iat"] - 60),
    "nbf in the future": lambda p: signed(p, nbf=claims_for()["iat"] + 120),
    "iat in the future": lambda p: signed(
        p, iat=claims_for()["iat"] + 120, exp=claims_for()["iat"] + 900
    ),
    "wrong iss": lambda p: signed(p, iss="https://evil.example"),
    "wrong aud": lambda p: signed(p, aud="another-api"),
    "aud as a list": lambda p: signed(p, aud=[AUDIENCE, "another-api"]),
    "sub not a uuid": lambda p: signed(p, sub="admin"),
    "sub not canonical": lambda p: signed(p, sub=str(uuid.uuid4()).upper()),
    "sub not a string": lambda p: signed(p, sub=12345),
    "jti not a string": lambda p: signed(p, jti=7),
    "iat not an integer": lambda p: signed(p, iat=float(claims_for()["iat"])),
    "exp a string": lambda p: signed(p, exp="tomorrow"),
    "lifetime longer than 15 minutes": lambda p: signed(p, exp=claims_for()["iat"] + 86400),
    "claims not an object": lambda p: forge(header_for(p), ["sub"], ed25519(p)),
    "unknown kid": lambda p: forge(header_for(p, kid="test-unknown"), claims_for(), ed25519(p)),
    "kid missing": lambda p: forge(header_for(p, kid=DROP), claims_for(), ed25519(p)),
    "kid an integer": lambda p: forge(header_for(p, kid=1), claims_for(), ed25519(p)),
    "kid null": lambda p: forge(header_for(p, kid=None), claims_for(), ed25519(p)),
    "kid a list": lambda p: forge(header_for(p, kid=[p.kid]), claims_for(), ed25519(p)),
    "kid an object": lambda p: forge(header_for(p, kid={"k": p.kid}), claims_for(), ed25519(p)),
    "kid huge": lambda p: forge(header_for(p, kid="k" * 2000), claims_for(), ed25519(p)),
    "kid path traversal": lambda p: forge(
        header_for(p, kid="../../etc/passwd"), claims_for(), ed25519(p)
    ),
    "typ missing": lambda p: forge(header_for(p, typ=DROP), claims_for(), ed25519(p)),
    "typ JWT": lambda p: forge(header_for(p, typ="JWT"), claims_for(), ed25519(p)),
    "typ of another token kind": lambda p: forge(
        header_for(p, typ="rt+jwt"), claims_for(), ed25519(p)
    ),
    "crit header": lambda p: forge(header_for(p, crit=["exp"]), claims_for(), ed25519(p)),
    "b64 false": lambda p: forge(header_for(p, b64=False, crit=["b64"]), claims_for(), ed25519(p)),
    "crit listing b64 without using it": lambda p: forge(
        header_for(p, b64=True, crit=["b64"]), claims_for(), ed25519(p)
    ),
    "header not an object": lambda p: forge([p.kid], claims_for(), ed25519(p)),
    "header deeply nested": deeply_nested_header,
    "a refresh token": lambda p: tokens.new_refresh_token(),
    "oversize but validly signed": huge_but_signed,
    "empty": lambda p: "",
    "garbage": lambda p: "not a token at all",
    "three dots of nothing": lambda p: "..",
    "base64 that is not json": lambda p: "aGVsbG8.d29ybGQ.c2ln",
    "bad base64 length": lambda p: "a.b.c",
    "padded base64": lambda p: signed(p).replace(".", "==.", 1),
    "non-ascii characters": lambda p: "é" + signed(p),
    "non-utf8 bytes as decoded by WSGI": lambda p: "\xff\xfe." + signed(p),
    "lone surrogate": lambda p: "\udcff" + signed(p),
    "trailing newline": lambda p: signed(p) + "\n",
    "with the Bearer prefix": lambda p: "Bearer " + signed(p),
    "four segments": lambda p: signed(p) + ".AAAA",
    "bytes instead of str": lambda p: signed(p).encode(),  # type: ignore[return-value]
    "None": lambda p: None,  # type: ignore[arg-type,return-value]
}


# Where the reason is certain, check it: a case must fail for the flaw it plants.
REASONS = {
    "alg none, with a signature": "algorithm not allowed",
    "HS256 with a guessable secret": "algorithm not allowed",
    "HS256 with the public key PEM": "algorithm not allowed",
    "signed by a key outside the ring": "bad signature",
    "payload altered after signing": "bad signature",
    "expired": "expired",
    "nbf in the future": "not yet valid",
    "iat in the future": "not yet valid",
    "wrong iss": "wrong issuer",
    "wrong aud": "wrong audience",
    "sub not a uuid": "subject is not a user id",
    "sub not canonical": "subject is not a user id",
    "iat not an integer": "non-integer time claim",
    "lifetime longer than 15 minutes": "lifetime too long",
    "unknown kid": "unknown kid",
    "kid missing": "malformed kid",
    "kid huge": "malformed kid",
    "typ missing": "not an access token",
    "typ JWT": "not an access token",
    "crit listing b64 without using it": "unsupported header",
    "a refresh token": "malformed token",
    "oversize but validly signed": "malformed token",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_token_is_invalid(configured: KeyPair, name: str) -> None:
    token = HOSTILE[name](configured)
    with pytest.raises(InvalidToken) as raised:
        tokens.verify_access_token(token)
    if name in REASONS:
        assert str(raised.value) == REASONS[name]


@pytest.mark.parametrize("claim", tokens.REQUIRED_CLAIMS)
def test_each_required_claim_is_required(configured: KeyPair, claim: str) -> None:
    token = signed(configured, **{claim: DROP})
    with pytest.raises(InvalidToken):
        tokens.verify_access_token(token)


@pytest.mark.parametrize("claim", tokens.REQUIRED_CLAIMS)
def test_a_null_claim_counts_as_missing(configured: KeyPair, claim: str) -> None:
    token = signed(configured, **{claim: None})
    with pytest.raises(InvalidToken):
        tokens.verify_access_token(token)


def test_the_forging_helpers_make_valid_tokens(configured: KeyPair) -> None:
    # Guards the table: each hostile token differs from a valid one in one respect only.
    user_id = uuid.uuid4()
    assert tokens.verify_access_token(signed(configured, sub=str(user_id))) == user_id


def test_an_access_token_is_not_a_refresh_token(configured: KeyPair) -> None:
    token, _ = tokens.issue_access_token(user_id=uuid.uuid4())
    assert not tokens.is_well_formed_refresh_token(token)


# --- tokens remembered as verified ------------------------------------------------------


def test_a_remembered_token_still_expires(
    configured: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = signed(configured)
    user_id = tokens.verify_access_token(token)
    assert tokens.verify_access_token(token) == user_id  # the second time from memory
    past_expiry = time.time() + tokens.ACCESS_TOKEN_TTL_SECONDS + tokens.LEEWAY.seconds + 1
    monkeypatch.setattr(tokens.time, "time", lambda: past_expiry)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify_access_token(token)


def test_a_remembered_token_is_checked_against_the_current_settings(
    configured: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = signed(configured)
    tokens.verify_access_token(token)
    # the same key ring object, other settings: memory must not answer for them
    for changes, reason in (
        ({"jwt_audience": "another-api"}, "wrong audience"),
        ({"jwt_issuer": "https://another.issuer"}, "wrong issuer"),
    ):
        other = make_settings(ring=[configured], signer=configured, **changes)
        monkeypatch.setattr(tokens, "get_settings", lambda other=other: other)
        with pytest.raises(InvalidToken, match=reason):
            tokens.verify_access_token(token)


def test_tokens_remembered_are_bounded(
    configured: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_TOKENS", 3)
    issued = [signed(configured) for _ in range(5)]
    users = [tokens.verify_access_token(token) for token in issued]
    assert len(tokens._verified) <= 3
    assert [tokens.verify_access_token(token) for token in issued] == users


# --- rotation and the key ring --------------------------------------------------------


def test_rotation_keeps_tokens_of_every_published_key_valid(
    use_settings: Callable[[config.Settings], None],
) -> None:
    old, new = make_key_pair(), make_key_pair()
    user_id = uuid.uuid4()

    use_settings(make_settings(ring=[old, new], signer=old))
    from_old, _ = tokens.issue_access_token(user_id=user_id)
    use_settings(make_settings(ring=[old, new], signer=new))
    from_new, _ = tokens.issue_access_token(user_id=user_id)

    # A verifier holding both public keys accepts both.
    use_settings(make_settings(ring=[old, new], signer=None))
    assert tokens.verify_access_token(from_old) == user_id
    assert tokens.verify_access_token(from_new) == user_id

    # Once the old key is withdrawn, its tokens stop working; the new key's do not.
    use_settings(make_settings(ring=[new], signer=None))
    with pytest.raises(InvalidToken):
        tokens.verify_access_token(from_old)
    assert tokens.verify_access_token(from_new) == user_id


def test_key_ring_is_built_once_per_process(
    configured: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str | None] = []
    real_parse = tokens.parse_key_ring
    monkeypatch.setattr(tokens, "parse_key_ring", lambda raw: calls.append(raw) or real_parse(raw))
    for _ in range(3):
        tokens.verify_access_token(signed(configured))
    assert len(calls) == 1


def test_a_verifier_needs_no_private_key(
    pair: KeyPair, use_settings: Callable[[config.Settings], None]
) -> None:
    use_settings(make_settings(ring=[pair], signer=pair))
    token, _ = tokens.issue_access_token(user_id=uuid.uuid4())
    use_settings(make_settings(ring=[pair], signer=None))
    tokens.verify_access_token(token)
    with pytest.raises(TokenConfigError, match="auth function only"):
        tokens.issue_access_token(user_id=uuid.uuid4())


def test_signing_kid_must_be_published(use_settings: Callable[[config.Settings], None]) -> None:
    published, unpublished = make_key_pair(), make_key_pair()
    use_settings(make_settings(ring=[published], signer=unpublished))
    with pytest.raises(TokenConfigError, match="not in JWT_PUBLIC_KEYS"):
        tokens.issue_access_token(user_id=uuid.uuid4())


def test_signing_key_must_match_its_published_key(
    use_settings: Callable[[config.Settings], None],
) -> None:
    published, other = make_key_pair(), make_key_pair()
    use_settings(
        make_settings(ring=[published], signer=published, jwt_signing_key=other.private_pem)
    )
    with pytest.raises(TokenConfigError, match="matching public key"):
        tokens.issue_access_token(user_id=uuid.uuid4())


@pytest.mark.parametrize(
    "private_pem",
    [
        "not a pem",
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode(),
    ],
    ids=["garbage", "an EC key"],
)
def test_signing_key_must_be_an_ed25519_pem(
    pair: KeyPair, use_settings: Callable[[config.Settings], None], private_pem: str
) -> None:
    use_settings(make_settings(ring=[pair], signer=pair, jwt_signing_key=private_pem))
    with pytest.raises(TokenConfigError):
        tokens.issue_access_token(user_id=uuid.uuid4())


def _public_pem_of_ec_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        "[]",
        "{}",
        '{"test-a": 1}',
        '{"test-a": "not a pem"}',
        json.dumps({"test-a": _public_pem_of_ec_key()}),
        json.dumps({"": make_key_pair().public_pem}),
        json.dumps({"bad kid!": make_key_pair().public_pem}),
    ],
    ids=[
        "unset",
        "empty",
        "not json",
        "a list",
        "no keys",
        "not a string",
        "not a pem",
        "an EC key",
        "empty kid",
        "odd kid",
    ],
)
def test_malformed_key_ring_is_a_config_error(raw: str | None) -> None:
    with pytest.raises(TokenConfigError):
        tokens.parse_key_ring(raw)


def test_broken_key_ring_is_loud_not_a_401(
    pair: KeyPair, use_settings: Callable[[config.Settings], None]
) -> None:
    use_settings(make_settings(ring=[pair], signer=None, jwt_public_keys="{broken"))
    with pytest.raises(TokenConfigError):
        tokens.verify_access_token(signed(pair))


def test_settings_are_read_from_the_environment(
    pair: KeyPair, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The real wiring through common.config.get_settings, away from any .env file.
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "ENV": "test",
        "DATABASE_URL": DATABASE_URL,
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "JWT_PUBLIC_KEYS": json.dumps({pair.kid: pair.public_pem}),
        "JWT_SIGNING_KEY": pair.private_pem,
        "JWT_SIGNING_KID": pair.kid,
    }.items():
        monkeypatch.setenv(name, value)
    clear_token_caches()
    try:
        user_id = uuid.uuid4()
        token, _ = tokens.issue_access_token(user_id=user_id)
        assert tokens.verify_access_token(token) == user_id
    finally:
        clear_token_caches()


# --- dev keys -------------------------------------------------------------------------


def test_generate_dev_keypair_makes_a_matching_ed25519_pair() -> None:
    kid, private_pem, public_pem = tokens.generate_dev_keypair()
    assert kid.startswith(config.DEV_KEY_ID_PREFIX)
    private_key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(private_key, Ed25519PrivateKey)
    assert tokens.parse_key_ring(json.dumps({kid: public_pem}))[kid] == private_key.public_key()
    assert tokens.generate_dev_keypair()[0] != kid


def test_generate_dev_keypair_refuses_an_odd_prefix() -> None:
    with pytest.raises(TokenConfigError):
        tokens.generate_dev_keypair(kid_prefix="no spaces ")


def test_ensure_dev_keys_creates_once_and_reuses(
    tmp_path: Path, use_settings: Callable[[config.Settings], None]
) -> None:
    directory = tmp_path / ".sealy" / "jwt"
    first = tokens.ensure_dev_keys(directory)
    assert set(first) == {"JWT_SIGNING_KEY", "JWT_SIGNING_KID", "JWT_PUBLIC_KEYS"}
    assert first["JWT_SIGNING_KID"].startswith(config.DEV_KEY_ID_PREFIX)
    assert tokens.ensure_dev_keys(directory) == first

    files = list(directory.iterdir())
    assert [f.name for f in files] == ["signing-key.json"]  # no temporary file left
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700

    # The values configure a working issuer and verifier.
    use_settings(
        make_settings(
            ring=[],
            signer=None,
            jwt_public_keys=first["JWT_PUBLIC_KEYS"],
            jwt_signing_key=first["JWT_SIGNING_KEY"],
            jwt_signing_kid=first["JWT_SIGNING_KID"],
        )
    )
    user_id = uuid.uuid4()
    assert tokens.verify_access_token(tokens.issue_access_token(user_id=user_id)[0]) == user_id


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        "[]",
        '{"kid": "dev-a"}',
        json.dumps({"kid": "prod-a", "private_key": "x", "public_key": "y"}),
    ],
    ids=["empty", "not json", "a list", "incomplete", "not a dev kid"],
)
def test_ensure_dev_keys_refuses_a_foreign_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "signing-key.json").write_text(content)
    with pytest.raises(TokenConfigError, match="delete it"):
        tokens.ensure_dev_keys(tmp_path)


# --- refresh tokens -------------------------------------------------------------------


def test_refresh_token_carries_256_random_bits() -> None:
    token = tokens.new_refresh_token()
    assert token.startswith("sealy_rt_")
    random_part = token.removeprefix("sealy_rt_")
    assert len(base64.urlsafe_b64decode(random_part + "=")) == 32
    assert tokens.is_well_formed_refresh_token(token)


def test_refresh_tokens_are_unique() -> None:
    assert len({tokens.new_refresh_token() for _ in range(1000)}) == 1000


def test_refresh_token_hash_is_sha256_and_not_the_token() -> None:
    token = tokens.new_refresh_token()
    digest = tokens.hash_refresh_token(token)
    assert digest == hashlib.sha256(token.encode()).digest()
    assert len(digest) == 32
    assert token.encode() not in digest
    assert tokens.hash_refresh_token(tokens.new_refresh_token()) != digest


def test_refresh_token_hash_never_raises_on_odd_text() -> None:
    assert len(tokens.hash_refresh_token("\udcff")) == 32


@pytest.mark.parametrize(
    "candidate",
    ["", "sealy_rt_", "sealy_rt_" + "A" * 42, "sealy_rt_" + "A" * 44, "xx_rt_" + "A" * 43, None, 7],
)
def test_malformed_refresh_tokens_are_recognised(candidate: object) -> None:
    assert not tokens.is_well_formed_refresh_token(candidate)


# --- import cost ----------------------------------------------------------------------


def test_common_auth_package_imports_no_crypto() -> None:
    code = (
        "import sys, common.auth; "
        "heavy = {'jwt', 'argon2', 'cryptography'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
