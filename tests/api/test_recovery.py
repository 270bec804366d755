"""Account recovery and email verification (api-v1 §12) through HTTP, with real mail.

Mail goes through the production code (common/mail.py, smtplib) to the session's SMTP server
on loopback (tests/smtp_stub.py: STARTTLS required, AUTH, SMTPUTF8); the tests read the codes
from the messages it received. Time is moved in the database (a code's `expires_at`, a mail's
`next_attempt_at`, a throttle's window), never waited for; the only waits are bounded waits
for a state: a mail arriving, a background attempt recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from werkzeug.test import Client

from common import mail
from common.auth import codes
from common.config import get_settings
from common.db import outbox
from tests.api.helpers import (
    QueryLog,
    assert_problem,
    error_fields,
    live,
    login_outlived,
    run_together,
    wait_for,
)
from tests.api.test_auth import fresh_address, via_edge
from tests.api.test_notifications import (
    SECRET_HEADERS,
    google,  # noqa: F401 (the fixture, used by name)
    use_settings,
)
from tests.factories import Account, register, strong_password, unique_email
from tests.smtp_stub import SmtpStub

pytestmark = [
    pytest.mark.api,
    # Dispatch serves every user: pushes left due by other tests go out too, and registration
    # tokens go as `Message(token=...)`, which firebase-admin deprecates (as in
    # test_notifications): a warning that the suite's `filterwarnings = error` would turn
    # into a 500 of the dispatch under test.
    pytest.mark.filterwarnings("ignore:Message.token is deprecated:DeprecationWarning"),
]

RESET = "/v1/auth/password-reset"
RESET_CONFIRM = "/v1/auth/password-reset/confirm"
VERIFY = "/v1/auth/email-verification"
VERIFY_CONFIRM = "/v1/auth/email-verification/confirm"
DISPATCH = "/v1/notifications/dispatch"


def forget_firebase() -> None:
    import firebase_admin  # type: ignore[import-untyped]

    from common import push

    with contextlib.suppress(ValueError):  # ValueError: none was made
        firebase_admin.delete_app(firebase_admin.get_app(push.APP_NAME))


@pytest.fixture(scope="module", autouse=True)
def pushes_go_to_the_stand_in(request: pytest.FixtureRequest) -> Iterator[None]:
    """Dispatch serves every user: the pushes other tests left due go out from these tests'
    dispatches too, so they go to the Google stand-in on loopback (test_notifications'
    `google`), through a Firebase app made here and forgotten afterwards (the process keeps
    one: made elsewhere it would point at another module's stand-in, or at Google)."""
    request.getfixturevalue("google")
    forget_firebase()
    yield
    forget_firebase()


@pytest.fixture(autouse=True)
def mail_server(smtp: SmtpStub, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpStub]:
    """The mail server up and unscripted, and dispatch's shared secret set, for every test."""
    from common.auth import dispatch as dispatch_auth

    use_settings(monkeypatch)
    assert dispatch_auth.get_settings is not get_settings
    smtp.start()
    smtp.reset()
    yield smtp
    smtp.start()
    smtp.reset()


# --- helpers -------------------------------------------------------------------------------


def ask_reset(client: Client, email: str, **headers: str) -> Any:
    return client.post(RESET, json={"email": email}, headers=headers)


def confirm_reset(client: Client, email: str, code: str, password: str, **headers: str) -> Any:
    body = {"email": email, "code": code, "new_password": password}
    return client.post(RESET_CONFIRM, json=body, headers=headers)


def login(client: Client, email: str, password: str) -> Any:
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def reset_code(client: Client, smtp: SmtpStub, account: Account, *, nth: int = 1) -> str:
    """Ask for a reset of `account` and return the code of the `nth` mail it received."""
    assert ask_reset(client, account.email).status_code == 202
    return smtp.mail_to(account.email, nth)[nth - 1].code


def dispatch(client: Client) -> dict[str, int]:
    response = client.post(DISPATCH, headers=SECRET_HEADERS)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def mails_of(engine: Engine, user_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT id, state, attempts, sealed_code, last_error, recipient"
                    " FROM mail_outbox WHERE user_id = :u ORDER BY created_at"
                ),
                {"u": user_id},
            )
        )


def update_mails(engine: Engine, user_id: str, assignments: str) -> None:
    """Set columns of a user's mails (`assignments`: an UPDATE's SET list): time moved here."""
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE mail_outbox SET {assignments} WHERE user_id = :u"), {"u": user_id}
        )


def make_mails_due(engine: Engine, user_id: str) -> None:
    update_mails(engine, user_id, "next_attempt_at = now()")


def code_row(engine: Engine, user_id: str, purpose: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT * FROM auth_codes WHERE user_id = :u AND purpose = :p"),
            {"u": user_id, "p": purpose},
        ).one_or_none()


def ignoring_request_id(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k != "X-Request-Id"}
    return response.status_code, headers, response.get_data()


def undelivered(client: Client, smtp: SmtpStub, engine: Engine, count: int = 1) -> list[Account]:
    """`count` accounts, each with a reset mail queued while the mail server was down (its
    first attempt failed and was recorded); the server is up again on return."""
    accounts = [register(client) for _ in range(count)]
    smtp.stop()
    try:
        for account in accounts:
            assert ask_reset(client, account.email).status_code == 202
        for account in accounts:
            assert wait_for(lambda a=account: mails_of(engine, a.id)[0].attempts == 1)
    finally:
        smtp.start()
    return accounts


# --- password reset ------------------------------------------------------------------------


def test_a_reset_mails_a_code_that_sets_a_new_password_and_ends_every_session(
    client: Client, smtp: SmtpStub, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    queries = QueryLog(caplog)
    account = register(client)
    other = login(client, account.email, account.password).get_json()["tokens"]
    asked = ask_reset(client, account.email.upper())  # any spelling: mailed to the stored one
    assert asked.status_code == 202
    assert queries.of(asked) == 1
    assert asked.get_data() == b""
    (sent,) = smtp.mail_to(account.email)
    assert sent.tls  # STARTTLS, then AUTH: the production path
    assert sent.authenticated
    assert sent.rcpt_tos == [account.email]
    assert sent.mail_from == "no-reply@sealy.test"
    message = sent.message
    assert message["To"] == account.email
    assert message["Subject"] == mail.SUBJECTS["password_reset"]
    code = sent.code
    assert len(code) == codes.CODE_DIGITS
    # no secret but the code, no link, no name
    assert "http" not in sent.text
    assert account.id not in sent.content.decode()
    assert account.refresh_token not in sent.content.decode()

    new_password = strong_password()
    confirmed = confirm_reset(client, account.email, code, new_password)
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    assert queries.of(confirmed) == 2
    assert confirmed.headers["Cache-Control"] == "no-store"
    body = confirmed.get_json()
    assert set(body) == {"user", "tokens"}
    assert body["user"]["id"] == account.id
    assert body["user"]["email_verified"] is True  # the code proved the mailbox
    # every earlier session ended; the returned pair is the only live one
    assert not live(client, account.refresh_token)
    assert not live(client, other["refresh_token"])
    assert live(client, body["tokens"]["refresh_token"])
    assert_problem(login(client, account.email, account.password), 401)
    assert login(client, account.email, new_password).status_code == 200
    # the code worked once
    assert_problem(confirm_reset(client, account.email, code, strong_password()), 401)


def test_codes_are_stored_only_as_a_keyed_hash(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    account = register(client)
    code = reset_code(client, smtp, account)
    stored = code_row(engine, account.id, "password_reset")
    assert len(stored.code_hash) == 32
    assert bytes(stored.code_hash) == codes.code_hash("password_reset", code)
    assert bytes(stored.code_hash) != hashlib.sha256(code.encode()).digest()
    assert bytes(stored.code_hash) != codes.code_hash("email_verification", code)
    # once sent (recorded just after the server's answer), the outbox keeps no copy of the
    # code, sealed or not; nothing holds it in the clear
    assert wait_for(lambda: mails_of(engine, account.id)[0].state == "sent")
    assert mails_of(engine, account.id)[0].sealed_code is None
    with engine.connect() as conn:
        dump = conn.execute(
            text(
                "SELECT concat_ws(' ', (SELECT string_agg(c::text, ' ') FROM auth_codes c),"
                " (SELECT string_agg(m::text, ' ') FROM mail_outbox m))"
            )
        ).scalar_one()
    assert code not in dump
    assert code.encode().hex() not in dump


def test_a_code_waits_in_the_outbox_sealed(client: Client, smtp: SmtpStub, engine: Engine) -> None:
    (account,) = undelivered(client, smtp, engine)
    (pending,) = mails_of(engine, account.id)
    assert pending.state == "pending"
    sealed = bytes(pending.sealed_code)
    code = codes.unseal(sealed, mail_id=pending.id)
    assert code not in sealed.decode("latin-1")
    assert bytes(code_row(engine, account.id, "password_reset").code_hash) == codes.code_hash(
        "password_reset", code
    )


def test_an_unknown_email_gets_exactly_the_answer_a_known_one_gets(
    client: Client, smtp: SmtpStub, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    queries = QueryLog(caplog)
    account = register(client)
    known = ask_reset(client, account.email)
    stranger = unique_email()
    unknown = ask_reset(client, stranger)
    assert ignoring_request_id(known) == ignoring_request_id(unknown)
    assert queries.of(known) == queries.of(unknown) == 1
    smtp.mail_to(account.email)
    with engine.connect() as conn:
        queued = conn.execute(
            text("SELECT count(*) FROM mail_outbox WHERE recipient = :e"), {"e": stranger}
        ).scalar_one()
    assert queued == 0
    assert smtp.received(stranger) == []


def test_three_reset_mails_per_email_per_hour_known_or_not(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    tag = unique_email().split("@")[0].removeprefix("user-")
    account = register(client, email=f"iris.{tag}@example.com")
    spellings = [account.email, f"\u0130ris.{tag}@example.com", f"IRIS.{tag}@example.com"]
    for spelling in spellings:  # three spellings, one email, one bucket
        assert ask_reset(client, spelling).status_code == 202
    refused = ask_reset(client, account.email)
    assert_problem(refused, 429)
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    assert len(smtp.mail_to(account.email, 3)) == 3
    stranger = unique_email()
    answers = [ask_reset(client, stranger).status_code for _ in range(4)]
    assert answers == [202, 202, 202, 429]  # an unknown email is limited alike
    # the window ends: one more mail goes
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE login_throttles SET window_started_at = now() - interval '61 minutes'"
                " WHERE kind = 'reset'"
                " AND subject = sha256(convert_to('email:' || lower(:e), 'UTF8'))"
            ),
            {"e": account.email},
        )
    assert ask_reset(client, account.email).status_code == 202
    assert len(smtp.mail_to(account.email, 4)) == 4


def test_wrong_expired_and_foreign_codes_are_401_alike(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    account = register(client)
    code = reset_code(client, smtp, account)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    miss = confirm_reset(client, account.email, wrong, strong_password())
    assert_problem(miss, 401)
    assert miss.headers["WWW-Authenticate"] == "Bearer"
    assert code_row(engine, account.id, "password_reset").tries == 1
    unknown = confirm_reset(client, unique_email(), code, strong_password())
    assert_problem(unknown, 401)
    assert {k: v for k, v in miss.get_json().items() if k != "request_id"} == {
        k: v for k, v in unknown.get_json().items() if k != "request_id"
    }
    # a verification code of the same digits is another code
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE auth_codes SET purpose = 'email_verification' WHERE user_id = :u"),
            {"u": account.id},
        )
    assert_problem(confirm_reset(client, account.email, code, strong_password()), 401)
    # expired: its 30 minutes are over
    code = reset_code(client, smtp, account, nth=2)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE auth_codes SET expires_at = now() - interval '1 second'"
                " WHERE user_id = :u AND purpose = 'password_reset'"
            ),
            {"u": account.id},
        )
    assert_problem(confirm_reset(client, account.email, code, strong_password()), 401)
    assert login(client, account.email, account.password).status_code == 200  # unchanged


def test_a_code_lives_30_minutes(client: Client, smtp: SmtpStub, engine: Engine) -> None:
    account = register(client)
    reset_code(client, smtp, account)
    with engine.connect() as conn:
        lifetime = conn.execute(
            text(
                "SELECT expires_at - created_at FROM auth_codes"
                " WHERE user_id = :u AND purpose = 'password_reset'"
            ),
            {"u": account.id},
        ).scalar_one()
    assert lifetime.total_seconds() == 30 * 60


def test_five_wrong_tries_end_a_code(client: Client, smtp: SmtpStub, engine: Engine) -> None:
    account = register(client)
    code = reset_code(client, smtp, account)
    wrong = f"{(int(code) + 7) % 10**8:08d}"
    for _ in range(5):
        assert_problem(confirm_reset(client, account.email, wrong, strong_password()), 401)
    assert_problem(confirm_reset(client, account.email, code, strong_password()), 401)
    assert code_row(engine, account.id, "password_reset").tries == 5
    # a new code starts over
    fresh = reset_code(client, smtp, account, nth=2)
    assert confirm_reset(client, account.email, fresh, strong_password()).status_code == 200


def test_a_new_code_replaces_the_live_one(client: Client, smtp: SmtpStub) -> None:
    account = register(client)
    first = reset_code(client, smtp, account)
    second = reset_code(client, smtp, account, nth=2)
    if first != second:
        assert_problem(confirm_reset(client, account.email, first, strong_password()), 401)
    assert confirm_reset(client, account.email, second, strong_password()).status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"email": "x@example.com", "code": "1234567", "new_password": "a-Fine-passw0rd"},
            {"code"},
        ),
        (
            {"email": "x@example.com", "code": "123456789", "new_password": "a-Fine-passw0rd"},
            {"code"},
        ),
        (
            {"email": "x@example.com", "code": "abcdefgh", "new_password": "a-Fine-passw0rd"},
            {"code"},
        ),
        (
            {"email": "x@example.com", "code": "\u0661" * 8, "new_password": "a-Fine-passw0rd"},
            {"code"},
        ),
        ({"email": "x@example.com", "code": 12345678, "new_password": "a-Fine-passw0rd"}, {"code"}),
        (
            {"email": "x@example.com", "code": "12345678", "new_password": "password123"},
            {"new_password"},
        ),
        ({"email": "nope", "code": "12345678", "new_password": "a-Fine-passw0rd"}, {"email"}),
        ({"code": "12345678"}, {"email", "new_password"}),
    ],
)
def test_reset_confirmations_are_validated(
    client: Client, body: dict[str, Any], fields: set[str]
) -> None:
    assert error_fields(client.post(RESET_CONFIRM, json=body)) == fields


def test_a_reset_request_is_validated(client: Client) -> None:
    assert error_fields(client.post(RESET, json={"email": "nope"})) == {"email"}
    assert error_fields(client.post(RESET, json={"email": unique_email(), "x": 1})) == {"x"}


def test_an_address_with_100_refusals_cannot_guess_codes(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    account = register(client)
    code = reset_code(client, smtp, account)
    address = fresh_address()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO login_throttles (kind, subject, failures, window_started_at)"
                " VALUES ('client', :s, 99, now() - interval '1 minute')"
            ),
            {"s": hashlib.sha256(b"client:" + address.encode()).digest()},
        )
    edge = via_edge(address)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    assert_problem(confirm_reset(client, account.email, wrong, strong_password(), **edge), 401)
    blocked = confirm_reset(client, account.email, code, strong_password(), **edge)
    assert_problem(blocked, 429)
    assert int(blocked.headers["Retry-After"]) > 0
    assert code_row(engine, account.id, "password_reset").tries == 1  # not even counted
    assert confirm_reset(client, account.email, code, strong_password()).status_code == 200


def test_an_account_without_a_password_gets_one(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    account = register(client)
    with engine.begin() as conn:  # as a provider sign-in leaves it: no password identity
        conn.execute(text("DELETE FROM auth_identities WHERE user_id = :u"), {"u": account.id})
    code = reset_code(client, smtp, account)
    password = strong_password()
    assert confirm_reset(client, account.email, code, password).status_code == 200
    assert login(client, account.email, password).status_code == 200


def test_a_switched_off_account_gets_no_mail(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    account = register(client)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :u"), {"u": account.id})
    assert ask_reset(client, account.email).status_code == 202
    assert mails_of(engine, account.id) == []


def test_a_reset_clears_the_login_throttle(client: Client, smtp: SmtpStub) -> None:
    account = register(client)
    for _ in range(6):
        login(client, account.email, "not-the-password")
    assert login(client, account.email, account.password).status_code == 429
    code = reset_code(client, smtp, account)
    password = strong_password()
    assert confirm_reset(client, account.email, code, password).status_code == 200
    assert login(client, account.email, password).status_code == 200


# --- a reset against a racing login (the revocation guarantee of issue 12.1) ----------------


def reset_is_under_way(engine: Engine) -> bool:
    """A confirmation holds its locks (code and user) while it hashes the new password."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
                    " AND query ILIKE '%auth_codes%'"
                )
            ).scalar_one()
        )


def login_once_under_way(
    gateway: Any, engine: Engine, account: Account, stage: bool
) -> tuple[bool, Any]:
    """Log in with the old password; staged: once a reset confirmation is under way."""
    seen = wait_for(lambda: reset_is_under_way(engine)) if stage else False
    return seen, login(Client(gateway), account.email, account.password)


def test_a_login_racing_a_reset_never_outlives_it(
    client: Client, gateway: Any, smtp: SmtpStub, engine: Engine
) -> None:
    survivors, staged = [], 0
    for attempt in range(20):
        account = register(client)
        code = reset_code(client, smtp, account)
        confirmed, (seen, logged_in) = run_together(
            partial(confirm_reset, Client(gateway), account.email, code, strong_password()),
            partial(login_once_under_way, gateway, engine, account, attempt % 2 == 0),
        )
        staged += seen
        if login_outlived(client, account.refresh_token, confirmed, logged_in):
            survivors.append(attempt)
    assert staged > 0, "the staged interleaving never happened"
    assert survivors == [], f"old-password sessions outlived the reset in tries {survivors}"


# --- delivery: outages, overlaps, lost answers, the dev folder -----------------------------


def test_an_outage_then_recovery_delivers_the_mail_once(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    account = register(client)
    smtp.stop()
    assert ask_reset(client, account.email).status_code == 202  # the answer does not wait
    assert wait_for(lambda: mails_of(engine, account.id)[0].attempts == 1)
    make_mails_due(engine, account.id)
    dispatch(client)  # still down: counted, kept
    (waiting,) = mails_of(engine, account.id)
    assert (waiting.state, waiting.attempts) == ("pending", 2)
    assert waiting.last_error == "ConnectionRefusedError"
    smtp.start()
    dispatch(client)  # not due yet: it backs off
    assert smtp.received(account.email) == []
    make_mails_due(engine, account.id)
    dispatch(client)
    (sent,) = smtp.received(account.email)
    make_mails_due(engine, account.id)
    dispatch(client)
    assert len(smtp.received(account.email)) == 1
    assert mails_of(engine, account.id)[0].state == "sent"
    assert confirm_reset(client, account.email, sent.code, strong_password()).status_code == 200


def test_overlapping_dispatches_send_each_mail_once(
    client: Client, gateway: Any, smtp: SmtpStub, engine: Engine
) -> None:
    overlapped = 0
    for _ in range(20):
        accounts = undelivered(client, smtp, engine, 3)
        for account in accounts:
            make_mails_due(engine, account.id)
        smtp.reset()
        smtp.hold_until_in_data(2, timeout_s=2)  # both dispatchers in DATA at once, if they can
        run_together(*[lambda: dispatch(Client(gateway))] * 2)
        overlapped += smtp.max_in_data >= 2
        for account in accounts:
            assert len(smtp.received(account.email)) == 1
            assert mails_of(engine, account.id)[0].state == "sent"
    assert overlapped > 0, "the two dispatches never sent at the same time"


def test_the_first_send_and_a_dispatch_racing_it_send_once(
    client: Client, gateway: Any, smtp: SmtpStub, engine: Engine
) -> None:
    for _ in range(20):
        account = register(client)
        run_together(
            lambda a=account: ask_reset(Client(gateway), a.email),
            lambda: dispatch(Client(gateway)),
            lambda: dispatch(Client(gateway)),
        )
        assert wait_for(lambda a=account: mails_of(engine, a.id)[0].state == "sent")
        dispatch(client)
        assert len(smtp.received(account.email)) == 1


def test_a_lost_answer_to_data_is_never_sent_again(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    account = register(client)
    smtp.answer_next("drop")  # the server takes the message, then the connection dies
    assert ask_reset(client, account.email).status_code == 202
    assert wait_for(lambda: mails_of(engine, account.id)[0].state == "failed")
    (lost,) = mails_of(engine, account.id)
    assert lost.last_error == outbox.UNKNOWN
    assert lost.sealed_code is None
    make_mails_due(engine, account.id)
    dispatch(client)
    (taken,) = smtp.received(account.email)
    assert not taken.answered  # it was delivered once, and never again
    assert confirm_reset(client, account.email, taken.code, strong_password()).status_code == 200


def test_a_temporary_refusal_is_retried_and_a_permanent_one_is_not(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    retried, refused = register(client), register(client)
    smtp.answer_next("451")
    assert ask_reset(client, retried.email).status_code == 202
    assert wait_for(lambda: mails_of(engine, retried.id)[0].attempts == 1)
    assert wait_for(lambda: mails_of(engine, retried.id)[0].state == "pending")
    make_mails_due(engine, retried.id)
    dispatch(client)
    assert [m.answered for m in smtp.received(retried.email)] == [True]
    smtp.answer_next("554")
    assert ask_reset(client, refused.email).status_code == 202
    assert wait_for(lambda: mails_of(engine, refused.id)[0].state == "failed")
    make_mails_due(engine, refused.id)
    dispatch(client)
    assert smtp.received(refused.email) == []


def test_a_handed_over_mail_left_behind_is_not_sent_again(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    """A sender that died after handing the mail over (its lease passed): outcome unknown."""
    (account,) = undelivered(client, smtp, engine)
    lapsed = "state = 'handed_over', next_attempt_at = now() - interval '1 second'"
    update_mails(engine, account.id, lapsed)
    dispatch(client)
    (left,) = mails_of(engine, account.id)
    assert (left.state, left.last_error, left.sealed_code) == ("failed", outbox.UNKNOWN, None)
    assert smtp.received(account.email) == []


def test_an_expired_mail_is_not_sent(client: Client, smtp: SmtpStub, engine: Engine) -> None:
    (account,) = undelivered(client, smtp, engine)
    update_mails(engine, account.id, "expires_at = now(), next_attempt_at = now()")
    dispatch(client)
    assert mails_of(engine, account.id)[0].last_error == "expired"
    assert smtp.received(account.email) == []


def test_an_address_with_a_non_ascii_local_part_gets_its_mail(
    client: Client, smtp: SmtpStub
) -> None:
    tag = unique_email().split("@")[0].removeprefix("user-")
    account = register(client, email=f"\u00e9lodie.{tag}@example.com")
    (sent,) = [reset_code(client, smtp, account)]
    assert len(sent) == codes.CODE_DIGITS
    assert smtp.received(account.email)[0].message["To"] == account.email


def test_without_smtp_host_mails_are_files_in_the_mail_folder(
    client: Client, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "mail"
    dev = get_settings().model_copy(update={"smtp_host": None, "mail_dir": str(folder)})
    monkeypatch.setattr(mail, "get_settings", lambda: dev)
    account = register(client)
    assert ask_reset(client, account.email).status_code == 202
    assert wait_for(lambda: any(folder.glob("password_reset-*.eml")))
    (file,) = folder.glob("password_reset-*.eml")
    (mail_row,) = mails_of(engine, account.id)
    assert file.name == f"password_reset-{mail_row.id}.eml"
    content = file.read_text()
    assert f"To: {account.email}" in content
    (code,) = {word for word in content.split() if word.isdigit() and len(word) == 8}
    assert confirm_reset(client, account.email, code, strong_password()).status_code == 200


def test_the_mail_folder_is_under_sealy_by_default() -> None:
    from common.config import Settings

    defaults = Settings(_env_file=None, env="dev", database_url="postgresql://x@h/d")  # type: ignore[call-arg]
    assert defaults.mail_dir == ".sealy/mail"


# --- email verification ----------------------------------------------------------------------


def ask_verification(client: Client, account: Account) -> Any:
    return client.post(VERIFY, headers=account.headers)


def confirm_verification(client: Client, account: Account, code: str) -> Any:
    return client.post(VERIFY_CONFIRM, json={"code": code}, headers=account.headers)


def me(client: Client, account: Account) -> Any:
    return client.get("/v1/users/me", headers=account.headers)


def test_a_verification_code_verifies_the_email(
    client: Client, smtp: SmtpStub, caplog: pytest.LogCaptureFixture
) -> None:
    queries = QueryLog(caplog)
    account = register(client)
    assert me(client, account).get_json()["email_verified"] is False
    asked = ask_verification(client, account)
    assert asked.status_code == 202
    assert queries.of(asked) == 1
    (sent,) = smtp.mail_to(account.email)
    assert sent.message["Subject"] == mail.SUBJECTS["email_verification"]
    confirmed = confirm_verification(client, account, sent.code)
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    assert queries.of(confirmed) == 1
    assert confirmed.get_json()["email_verified"] is True
    assert confirmed.headers["ETag"] == '"2"'
    assert me(client, account).get_json() == confirmed.get_json()
    # a confirmation retried after its answer was lost still succeeds, and changes nothing
    again = confirm_verification(client, account, sent.code)
    assert again.status_code == 200
    assert again.headers["ETag"] == '"2"'
    assert_problem(ask_verification(client, account), 409)  # nothing left to verify


def test_wrong_verification_codes_are_403_and_five_end_the_code(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    account = register(client)
    assert ask_verification(client, account).status_code == 202
    code = smtp.mail_to(account.email)[0].code
    wrong = f"{(int(code) + 3) % 10**8:08d}"
    for _ in range(5):
        assert_problem(confirm_verification(client, account, wrong), 403)
    assert_problem(confirm_verification(client, account, code), 403)
    assert me(client, account).get_json()["email_verified"] is False
    assert code_row(engine, account.id, "email_verification").tries == 5


def test_a_reset_code_does_not_verify(client: Client, smtp: SmtpStub, engine: Engine) -> None:
    account = register(client)
    code = reset_code(client, smtp, account)
    assert_problem(confirm_verification(client, account, code), 403)
    assert code_row(engine, account.id, "password_reset").tries == 0


def test_a_verification_code_is_bound_to_its_address(
    client: Client, smtp: SmtpStub, engine: Engine
) -> None:
    account = register(client)
    assert ask_verification(client, account).status_code == 202
    code = smtp.mail_to(account.email)[0].code
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET email = :e WHERE id = :u"),
            {"e": unique_email(), "u": account.id},
        )
    assert_problem(confirm_verification(client, account, code), 403)


def test_three_verification_mails_per_hour(client: Client, smtp: SmtpStub) -> None:
    account = register(client)
    answers = [ask_verification(client, account).status_code for _ in range(4)]
    assert answers == [202, 202, 202, 429]
    assert len(smtp.mail_to(account.email, 3)) == 3


def test_an_account_without_an_email_has_nothing_to_verify(client: Client, engine: Engine) -> None:
    account = register(client)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET email = NULL WHERE id = :u"), {"u": account.id})
    problem = assert_problem(ask_verification(client, account), 409)
    assert "no email" in problem["detail"]


def test_verification_needs_a_bearer_token(client: Client) -> None:
    assert_problem(client.post(VERIFY), 401)
    assert_problem(client.post(VERIFY_CONFIRM, json={"code": "12345678"}), 401)


def test_a_verified_email_is_a_flag_of_the_user(
    client: Client, engine: Engine, smtp: SmtpStub
) -> None:
    """A provider-verified email (set by the provider sign-in) is the same flag."""
    account = register(client)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET email_verified = true WHERE id = :u"), {"u": account.id}
        )
    assert_problem(ask_verification(client, account), 409)
    assert confirm_verification(client, account, "00000000").status_code == 200


# --- the statement budget --------------------------------------------------------------------


def test_the_recovery_routes_run_at_most_three_statements(
    client: Client, smtp: SmtpStub, caplog: pytest.LogCaptureFixture
) -> None:
    queries = QueryLog(caplog)
    account = register(client)
    counts = {}
    counts["reset"] = queries.of(ask_reset(client, account.email))
    code = smtp.mail_to(account.email)[0].code
    counts["reset, wrong code"] = queries.of(
        confirm_reset(
            client,
            account.email,
            "00000000" if code != "00000000" else "1" * 8,
            "a-Fine-passw0rd",
            **via_edge(fresh_address()),
        )
    )
    counts["reset, right code"] = queries.of(
        confirm_reset(client, account.email, code, strong_password())
    )
    counts["verification"] = queries.of(ask_verification(client, account))
    counts["verification, wrong code"] = queries.of(confirm_verification(client, account, "x" * 8))
    assert counts == {
        "reset": 1,
        "reset, wrong code": 2,  # the check, then the client address's refusal
        "reset, right code": 2,  # the check (and lock), then the new password and session
        "verification": 1,
        "verification, wrong code": 0,  # not 8 digits: refused before any statement
    }
