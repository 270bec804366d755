"""Time `POST /v1/auth/password-reset` for known and for unknown emails (no enumeration).

    python scripts/bench_reset.py [--tries 30]

The gateway app in this process (every function's real entry point, as `make dev` serves
them), a werkzeug test client, and the mail going to a real SMTP server on loopback (the test
suite's aiosmtpd with STARTTLS and AUTH, tests/smtp_stub.py), so the background sender does
its real work while the requests are timed. `--tries` accounts are registered first (not
timed); then each try times one reset of a known email and one of an unknown email, in
alternating order, each a fresh email (the limit is 3 an hour per email). Two rounds:
- "busy": back to back, so a mail still being sent competes with the next request for the CPU
  whichever kind that request is;
- "quiet": each known-email request is followed by waiting for its mail to arrive, so no
  request shares the CPU with a sender; the time from the answer to the mail's arrival at the
  server is printed too (the background sender: connect, STARTTLS, AUTH, claim, DATA, record).
It prints both medians (and p90s) per round, and checks that both kinds of answer are the
same: status, headers (but the request id) and body.

The database: `DATABASE_URL`'s server if set (a scratch database is created, migrated and
dropped), else a private embedded PostgreSQL. A measurement, not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools import database as db  # noqa: E402
from scripts.bench_login import environment  # noqa: E402

PASSWORD = "correct horse battery staple 42"


def summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{label:<28} median {statistics.median(ordered):6.2f} ms   p90 {p90:6.2f} ms"


def answer(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k != "X-Request-Id"}
    return response.status_code, headers, response.get_data()


def run(tries: int, smtp: Any) -> None:
    from werkzeug.test import Client

    from devtools.gateway import create_gateway

    client = Client(create_gateway())
    known = []
    for _ in range(2 * tries + 2):
        email = f"bench-{secrets.token_hex(6)}@example.com"
        body = {"email": email, "password": PASSWORD, "username": "bench"}
        assert client.post("/v1/auth/register", json=body).status_code == 201
        known.append(email)
    answers: set[tuple[int, tuple[tuple[str, str], ...], bytes]] = set()

    def reset(email: str) -> float:
        start = time.perf_counter()
        response = client.post("/v1/auth/password-reset", json={"email": email})
        elapsed = (time.perf_counter() - start) * 1000
        status, headers, body = answer(response)
        answers.add((status, tuple(sorted(headers.items())), body))
        return elapsed

    reset(known.pop())  # warm-up: first-use imports, the sender thread, the SMTP handshake
    reset(f"nobody-{secrets.token_hex(6)}@example.com")
    for label, quiet in (("busy", False), ("quiet", True)):
        times: dict[str, list[float]] = {"known": [], "unknown": []}
        arrivals: list[float] = []
        for n in range(tries):
            order = ("known", "unknown") if n % 2 == 0 else ("unknown", "known")
            for kind in order:
                if kind == "known":
                    email = known.pop()
                    times[kind].append(reset(email))
                    if quiet:
                        answered = time.perf_counter()
                        assert smtp.wait_for(lambda e=email: bool(smtp.received(e)), 10)
                        arrivals.append((time.perf_counter() - answered) * 1000)
                else:
                    times[kind].append(reset(f"nobody-{secrets.token_hex(6)}@example.com"))
        print(f"{label}: {tries} tries each")
        for kind, samples in times.items():
            print("  " + summary(f"{kind} email", samples))
        delta = statistics.median(times["known"]) - statistics.median(times["unknown"])
        print(f"  median difference (known - unknown) {delta:+6.2f} ms")
        if arrivals:
            print("  " + summary("answer to mail delivered", arrivals))
    print(f"distinct answers (status, headers but X-Request-Id, body): {len(answers)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=30)
    args = parser.parse_args()
    from tests.smtp_stub import SmtpStub

    with tempfile.TemporaryDirectory() as folder, db.fresh_database("sealy_bench") as url:
        smtp = SmtpStub(Path(folder))
        try:
            os.environ.update(environment(url))
            os.environ.update(smtp.env())
            run(args.tries, smtp)
        finally:
            smtp.close()


if __name__ == "__main__":
    main()
