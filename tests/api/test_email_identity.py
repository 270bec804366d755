"""One email, one throttle (issue 12.2): the email that reaches an account is the email whose
throttle bucket counts the attempt, for every spelling a client may send.

The database decides which account an email is (`citext`: `lower(a) = lower(b)` in the
database's ctype); Python's `str.lower` differs for some characters (U+0130 becomes `i` plus a
combining dot, a final capital sigma becomes `ς`). Each case registers an account, then asks
through HTTP alone: does this spelling sign in to it, and does it count in its bucket? The two
answers must agree, whatever the database's collation.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from werkzeug.test import Client

from tests.factories import register

pytestmark = pytest.mark.api

# (registered local part, local part sent); a `{}` is replaced by a random suffix.
SPELLINGS = {
    "dotted capital I (U+0130)": ("iris.{}", "\u0130ris.{}"),
    "capital sigma at the end of a word": ("\u03b1\u03bb\u03b5\u03be\u03b9\u03c3-{}", "ΑΛΕΞΙΣ-{}"),
    "final sigma typed": ("\u03b1\u03bb\u03b5\u03be\u03b9\u03c3-{}", "αλεξις-{}"),
    "sharp s against SS": ("strasse.{}", "stra\u00dfe.{}"),
    "capital sharp s (U+1E9E)": ("stra\u00dfe.{}", "STRA\u1e9eE.{}"),
    "Kelvin sign (U+212A)": ("kate.{}", "\u212aate.{}"),
    "accented capital": ("\u00e9lodie.{}", "\u00c9LODIE.{}"),
    "titlecase digraph (U+01C5)": ("\u01c6emal.{}", "\u01c5emal.{}"),
    "plain ASCII case": ("bob.{}", "BOB.{}"),
}


def login(client: Client, email: str, password: str) -> Any:
    return client.post("/v1/auth/login", json={"email": email, "password": password})


@pytest.mark.parametrize("case", sorted(SPELLINGS))
def test_the_spelling_that_reaches_an_account_counts_in_its_bucket(
    client: Client, case: str
) -> None:
    suffix = secrets.token_hex(6)
    stored, sent = (part.format(suffix) + "@example.com" for part in SPELLINGS[case])
    account = register(client, email=stored)
    first = login(client, sent, account.password)
    assert first.status_code in (200, 401), first.get_data(as_text=True)
    same_account = first.status_code == 200
    # five failures counted under the stored spelling...
    for _ in range(5):
        assert login(client, stored, "not-the-password").status_code == 401
    # ...then the right password under the other spelling: throttled exactly when it is the
    # same account (the bucket is the account's), an unknown email otherwise
    sixth = login(client, sent, account.password)
    assert sixth.status_code == (429 if same_account else 401), (case, same_account)
