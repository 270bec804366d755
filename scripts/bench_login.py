"""Measure a login through the real entry point, next to a bare argon2 verification, and the
import time of the `auth` function's module next to another function's.

    python scripts/bench_login.py [--runs 50]

- Login: the gateway app in this process (every function's functions-framework entry point,
  as `make dev` serves them), driven by a werkzeug test client: register one user, then
  `--runs` successful logins (the throttle counts only failures, and each success resets
  it). Each login is the whole request: routing, validation, two SQL statements, one argon2
  verification, a new session and refresh token, an Ed25519-signed access token.
- Bare: `PasswordHasher.verify` with `common.auth.passwords.ARGON2_PARAMETERS`.
- Imports: `import main` of functions/auth/main.py and functions/todos/main.py, each in a
  fresh interpreter, best of 5.

The database: `DATABASE_URL`'s server if set (a scratch database is created, migrated and
dropped), else a private embedded PostgreSQL in a temporary folder. A measurement for the
issue's closing note, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools import database as db  # noqa: E402
from scripts.timing import measure_ms, report  # noqa: E402

PASSWORD = "correct horse battery staple 42"
IMPORT_PROBE = """
import sys, time
sys.path.insert(0, {source!r})
start = time.perf_counter()
import main
print((time.perf_counter() - start) * 1000)
"""


def environment(url: str) -> dict[str, str]:
    from common.auth.tokens import generate_dev_keypair

    kid, private_pem, public_pem = generate_dev_keypair(kid_prefix="bench-")
    return {
        "ENV": "test",
        "RELEASE": "bench",
        "LOG_LEVEL": "WARNING",  # no request log line per login on the terminal
        "DATABASE_URL": url,
        "JWT_SIGNING_KEY": private_pem,
        "JWT_SIGNING_KID": kid,
        "JWT_PUBLIC_KEYS": json.dumps({kid: public_pem}),
    }


def bench_login(runs: int) -> None:
    from werkzeug.test import Client

    from devtools.gateway import create_gateway

    client = Client(create_gateway())
    email = f"bench-{secrets.token_hex(6)}@example.com"
    body = {"email": email, "password": PASSWORD, "username": "bench"}
    created = client.post("/v1/auth/register", json=body)
    assert created.status_code == 201, created.get_data(as_text=True)

    def login() -> None:
        response = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.get_data(as_text=True)

    report("POST /v1/auth/login (whole request)", measure_ms(login, runs=runs))


def bench_bare_verify(runs: int) -> None:
    from argon2 import PasswordHasher

    from common.auth.passwords import ARGON2_PARAMETERS

    hasher = PasswordHasher.from_parameters(ARGON2_PARAMETERS)
    stored = hasher.hash(PASSWORD)
    report(
        "bare PasswordHasher.verify", measure_ms(lambda: hasher.verify(stored, PASSWORD), runs=runs)
    )


def import_ms(function: str, env: dict[str, str]) -> float:
    source = str(ROOT / "functions" / function)
    probe = IMPORT_PROBE.format(source=source)
    best = float("inf")
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, "-c", probe],
            env={**os.environ, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        best = min(best, float(done.stdout.strip().splitlines()[-1]))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    from common.auth.passwords import ARGON2_PARAMETERS as params

    print(
        f"argon2id m={params.memory_cost} KiB ({params.memory_cost / 1024:g} MiB), "
        f"t={params.time_cost}, p={params.parallelism}; {args.runs} runs each"
    )
    with db.fresh_database("sealy_bench") as url:
        env = environment(url)
        os.environ.update(env)
        bench_login(args.runs)
        bench_bare_verify(args.runs)
        for function in ("auth", "todos"):
            print(
                f"import functions/{function}/main.py (fresh process, best of 5) "
                f"{import_ms(function, env):7.1f} ms"
            )


if __name__ == "__main__":
    main()
