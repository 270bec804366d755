"""`make fuzz`: schemathesis against the whole API, generated from its OpenAPI documents.

    python scripts/fuzz.py [--max-examples 100] [--seed 42] [--max-steps 50] [--workers 1]
                           [--phases examples,coverage,fuzzing,stateful] [--max-time SECONDS]

1. A database: `DATABASE_URL`'s server gets a fresh `sealy_fuzz_<random>` database (dropped at
   the end); without it, a private embedded PostgreSQL runs in a temporary folder. Migrated.
2. The gateway (every function's real entry point, `devtools.gateway`) under werkzeug's
   threaded server on a free loopback port, `ENV=test`, a fresh signing key pair.
3. Two users registered through the API: the fuzzer's two identities, declared as peers
   (neither may ever read the other's objects: object-level authorization). Their access
   tokens come from a loopback issuer beside the API (`TokenIssuer`), fresh every 5 minutes.
4. schemathesis (Python API) on `/v1/openapi.json` with every check, a fixed seed and at most
   `--max-examples` cases per operation and phase: examples, coverage (boundary and invalid
   values), fuzzing, and the stateful phase, which chains operations through the documents'
   links (create -> get -> patch with the ETag -> delete -> use after free).

The counts are printed; the exit status is 1 on any failure or error. Everything stays on
loopback and stops by itself: the run is bounded by its counts (`--max-examples` cases per
operation and phase, `--max-steps` per stateful scenario). `--max-time` instead gives it a
time budget, which schemathesis spends by repeating the fuzzing and stateful phases.
`tests/reliability/test_fuzz.py` runs a small deterministic slice of the same run in `make test`.

Where a check is wrong for our contract, `CONTRACT_422` and `EXPECTED_412` below narrow it to
the operations concerned, each with its reason. Nothing else is relaxed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PHASES = ("examples", "coverage", "fuzzing", "stateful")

# positive_data_acceptance: schema-valid requests must be accepted (2xx, or 401/403/404/409/429).
# These operations answer 422 to some schema-valid requests, because what decides it is the
# database, the clock, an earlier request or a rule between two fields, which no schema can
# say. docs/api.md §10 lists the same rules for the API's users.
CONTRACT_422 = {
    # a cursor is opaque and signed: only one this server issued for this list is valid
    "GET /v1/todos": "a cursor the server did not issue",
    "GET /v1/memos": "a cursor the server did not issue",
    "GET /v1/contacts": "a cursor the server did not issue",
    "GET /v1/tags": "a cursor the server did not issue",
    # change feeds: the same for their cursors and sync tokens (api-v1 §10)
    "GET /v1/todos/changes": "a cursor or sync token the server did not issue",
    "GET /v1/memos/changes": "a cursor or sync token the server did not issue",
    "GET /v1/contacts/changes": "a cursor or sync token the server did not issue",
    "GET /v1/tags/changes": "a cursor or sync token the server did not issue",
    # an Idempotency-Key reused with another body; tag ids and parents must be the caller's;
    # a recurrence rule ends after it starts; email-validator refuses more than `format: email`
    "POST /v1/todos": "Idempotency-Key reuse, foreign tag/parent ids, end_at after start_at",
    "POST /v1/memos": "Idempotency-Key reuse, foreign tag ids",
    "POST /v1/contacts": "Idempotency-Key reuse, foreign tag ids, email-validator's emails",
    "POST /v1/tags": "Idempotency-Key reuse",
    "PATCH /v1/todos/{item_id}": "foreign tag/parent ids, a parent cycle, end_at after start_at",
    "PATCH /v1/memos/{item_id}": "foreign tag ids",
    "PATCH /v1/contacts/{item_id}": "foreign tag ids, email-validator's emails",
    # expires_at must lie in the future; nobody shares with themselves
    "PUT /v1/todos/{item_id}/shares": "expires_at in the past, sharing with yourself, emails",
    "PUT /v1/memos/{item_id}/shares": "expires_at in the past, sharing with yourself, emails",
    "PUT /v1/contacts/{item_id}/shares": "expires_at in the past, sharing with yourself, emails",
    # a new password may not be one of the 10 000 most common ones; emails are checked by
    # email-validator, which also refuses special-use domains (.test, .local, .arpa, ...)
    # that the `email` format allows
    "POST /v1/auth/register": "a common password, a special-use email domain",
    "POST /v1/auth/login": "a special-use email domain",
    "POST /v1/auth/password": "a common password",
    "POST /v1/auth/password-reset": "a special-use email domain",
    "POST /v1/auth/password-reset/confirm": "a common password, a special-use email domain",
}
# `If-Match` carries the version the client read; any other value is a precondition failure:
# a stale or foreign version (schema-valid), and a malformed one (schema-invalid: the
# document gives the header's pattern) match nothing, and RFC 9110 §13.1.1 answers 412.
EXPECTED_412 = (
    "every operation that declares If-Match: a stale, foreign or malformed version is 412"
)
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429"]
# schemathesis' own list for negative_data_rejection, which the If-Match operations extend.
NEGATIVE_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428"]
NEGATIVE_STATUSES += ["429", "5xx"]


@dataclass
class Report:
    """What one schemathesis run did and found."""

    operations: set[str] = field(default_factory=set)
    succeeded: set[str] = field(default_factory=set)  # operations answered with a 2xx
    cases: Counter[str] = field(default_factory=Counter)  # per phase
    checks: int = 0
    links_covered: set[str] = field(default_factory=set)
    links_total: int = 0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stop_reason: str = "not finished"

    def summary(self) -> str:
        phases = ", ".join(f"{phase} {count}" for phase, count in sorted(self.cases.items()))
        return (
            f"operations tested: {len(self.operations)} ({len(self.succeeded)} answered "
            f"2xx); test cases: "
            f"{sum(self.cases.values())} ({phases}); checks run: {self.checks}; "
            f"links covered: {len(self.links_covered)}/{self.links_total}; "
            f"failures: {len(self.failures)}; errors: {len(self.errors)}; "
            f"{self.seconds:.0f} s, {self.stop_reason}"
        )


def schemathesis_config(
    *,
    auth_file: Path,
    peers: list[str],
    if_match_operations: list[str],
    max_examples: int,
    seed: int,
    phases: tuple[str, ...] = PHASES,
    workers: int = 1,
    max_time: float | None = None,
    max_steps: int = 50,
) -> dict[str, Any]:
    """The run's configuration, as a `schemathesis.toml` would hold it."""
    operations: list[dict[str, Any]] = []
    for label in sorted({*CONTRACT_422, *if_match_operations}):
        extra = (["422"] if label in CONTRACT_422 else []) + (
            ["412"] if label in if_match_operations else []
        )
        checks: dict[str, Any] = {
            "positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES + extra}
        }
        if label in if_match_operations:
            checks["negative_data_rejection"] = {"expected-statuses": [*NEGATIVE_STATUSES, "412"]}
        operations.append({"include-name": label, "checks": checks})
    config: dict[str, Any] = {
        "seed": seed,
        "workers": workers,
        "checks": {"enabled": True},  # every check, including the stateful ones
        # No state carried between runs (found examples, learned inputs): a run depends on
        # its seed and the server alone.
        "generation": {"max-examples": max_examples, "database": "none"},
        "cache": {"enabled": False},
        "phases": {name: {"enabled": name in phases} for name in PHASES},
        # Longer scenarios reach more links (create -> patch -> share -> delete -> ...).
        "auth": {"wfc": {"path": str(auth_file), "peers": peers, "refresh_interval": 300}},
        "operations": operations,
        "request-timeout": 30,
    }
    config["phases"]["stateful"]["max-steps"] = max_steps
    if max_time is not None:
        config["max-time"] = max_time
    return config


def run(
    openapi_url: str, config: dict[str, Any], progress: Callable[[str], None] | None = None
) -> Report:
    """Run schemathesis' engine on the document at `openapi_url`; collect counts and findings."""
    import schemathesis
    from schemathesis.engine import Status, events, from_schema

    started = time.monotonic()
    schema = schemathesis.openapi.from_url(
        openapi_url, config=schemathesis.Config.from_dict(config)
    )
    report = Report()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            _record_scenario(report, event, Status)
        elif isinstance(event, events.PhaseStarted):
            if isinstance(event.payload, events.StatefulPhasePayload):
                report.links_total = event.payload.transitions_selected
            if progress is not None and event.phase.is_enabled:
                progress(f"phase {event.phase.name.value} ({time.monotonic() - started:.0f} s)")
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = event.stop_reason.value
            report.failures.extend(f"[run] {f.title}: {f.message}" for f in event.failures)
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            report.errors.append(f"fatal: {event.exception!r}")
    report.seconds = time.monotonic() - started
    return report


def _record_scenario(report: Report, event: Any, status: Any) -> None:
    recorder = event.recorder
    phase = event.phase.value
    if event.status == status.SKIP:
        return
    report.cases[phase] += len(recorder.cases)
    for case_id, node in recorder.cases.items():
        label = node.value.operation.label
        report.operations.add(label)
        response = recorder.find_response(case_id=case_id)
        if response is not None and 200 <= response.status_code < 300:
            report.succeeded.add(label)
        if node.transition is not None and node.is_transition_applied:
            report.links_covered.add(node.transition.id)
    for case_id, nodes in recorder.checks.items():
        for node in nodes:
            report.checks += 1
            if node.status == status.FAILURE and node.failure_info is not None:
                failure = node.failure_info.failure
                response = recorder.find_response(case_id=case_id)
                answer = (
                    f"{response.status_code} {response.text_lossy()[:300]}"
                    if response
                    else "no response"
                )
                report.failures.append(
                    f"[{phase}] {failure.operation or recorder.label} {node.name}: "
                    f"{failure.title}\n  {failure.message.strip()[:500]}\n  -> {answer}\n"
                    f"  {node.failure_info.code_sample[:1000]}"
                )
    if event.status == status.ERROR:
        report.errors.append(f"[{phase}] {recorder.label}: error (see the failures)")


# --- the server and its users ----------------------------------------------------------


# The fuzzer's own client address (TEST-NET-2, RFC 5737): the registrations it gets refused
# and the logins it fails count for it, not for every other client on loopback.
FUZZER_ADDRESS = "198.51.100.1"


@contextlib.contextmanager
def serve(app: Any, *, client_address: str | None = None) -> Iterator[str]:
    """`app` on a free loopback port (werkzeug's threaded server, in a thread); its base URL.
    With `client_address`, every request comes from that address (`REMOTE_ADDR`), as if that
    client were connected: throttles count it apart from the others."""
    from werkzeug.serving import make_server

    served = app
    if client_address is not None:

        def served(environ: dict[str, Any], start_response: Any) -> Any:
            environ["REMOTE_ADDR"] = client_address
            return app(environ, start_response)

    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def register_users(base: str, names: list[str]) -> dict[str, str]:
    """Register one account per name through the API; name -> user id."""
    users = {}
    for name in names:
        body = {
            "email": f"{name}-{secrets.token_hex(6)}@example.com",
            "password": f"pw-{secrets.token_urlsafe(18)}",
            "username": name,
        }
        users[name] = post_json(f"{base}/v1/auth/register", body)["user"]["id"]
    return users


class TokenIssuer:
    """A loopback endpoint, beside the API and not part of it, that hands the fuzzer a fresh
    access token for each user (`POST /token/<name>`): real 15-minute tokens from
    `issue_access_token` (this process holds the run's signing key; the API refuses tokens
    that claim a longer life). Schemathesis fetches one per identity and again every 5
    minutes, so a long run keeps its identities without logging in: its own failed logins
    would trip the login throttle."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from werkzeug.wrappers import Response

        from common.auth.tokens import issue_access_token

        name = environ.get("PATH_INFO", "").removeprefix("/token/")
        if environ["REQUEST_METHOD"] != "POST" or name not in self.users:
            return Response(status=404)(environ, start_response)
        token, _ = issue_access_token(user_id=uuid.UUID(self.users[name]))
        body = json.dumps({"access_token": token})
        return Response(body, mimetype="application/json")(environ, start_response)


def write_auth_file(path: Path, issuer: str, names: list[str]) -> Path:
    """A Web Fuzzing Commons auth document: one identity per user, its token from `issuer`."""
    entries = [
        {
            "name": name,
            "loginEndpointAuth": {
                "externalEndpointURL": f"{issuer}/token/{name}",
                "verb": "POST",
                "payloadRaw": "{}",
                "contentType": "application/json",
                "token": {
                    "extractFrom": "body",
                    "extractSelector": "/access_token",
                    "sendIn": "header",
                    "sendName": "Authorization",
                    "sendTemplate": "Bearer {token}",
                },
            },
        }
        for name in names
    ]
    path.write_text(json.dumps({"auth": entries}))
    return path


def if_match_operations(document: dict[str, Any]) -> list[str]:
    """Labels (`PATCH /v1/todos/{item_id}`) of the operations that declare If-Match."""
    return [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, op in item.items()
        if any(p["name"] == "If-Match" for p in op.get("parameters", []))
    ]


def fuzz_gateway(
    base: str,
    *,
    workdir: Path,
    max_examples: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> Report:
    """Register the two peers on the gateway at `base` and fuzz it."""
    users = register_users(base, ["alice", "bob"])
    with urllib.request.urlopen(f"{base}/v1/openapi.json", timeout=30) as response:
        document = json.loads(response.read())
    with serve(TokenIssuer(users)) as issuer:
        config = schemathesis_config(
            auth_file=write_auth_file(workdir / "auth.json", issuer, list(users)),
            peers=list(users),
            if_match_operations=if_match_operations(document),
            max_examples=max_examples,
            seed=seed,
            **options,
        )
        return run(f"{base}/v1/openapi.json", config, progress)


# --- make fuzz ---------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--max-time", type=float, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--phases", default=",".join(PHASES))
    args = parser.parse_args()
    phases = tuple(p for p in args.phases.split(",") if p)
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")

    from devtools.database import fresh_database

    with (
        fresh_database("sealy_fuzz") as url,
        tempfile.TemporaryDirectory(prefix="sealy-fuzz-") as work,
    ):
        from common.auth.tokens import generate_dev_keypair

        kid, private_pem, public_pem = generate_dev_keypair(kid_prefix="test-")
        os.environ.update(
            DATABASE_URL=url,
            ENV="test",
            RELEASE=os.environ.get("RELEASE", "fuzz"),
            JWT_SIGNING_KEY=private_pem,
            JWT_SIGNING_KID=kid,
            JWT_PUBLIC_KEYS=json.dumps({kid: public_pem}),
        )
        from devtools.gateway import create_gateway

        app = create_gateway()
        # One JSON line per request would bury the report; errors (5xx) still print.
        logging.getLogger("common.http").setLevel(logging.ERROR)
        with serve(app, client_address=FUZZER_ADDRESS) as base:
            print(
                f"fuzzing {base}/v1/openapi.json (seed {args.seed}, {args.max_examples} "
                f"examples per operation and phase, phases {','.join(phases)})",
                flush=True,
            )
            report = fuzz_gateway(
                base,
                workdir=Path(work),
                max_examples=args.max_examples,
                seed=args.seed,
                phases=phases,
                workers=args.workers,
                max_time=args.max_time,
                max_steps=args.max_steps,
                progress=lambda line: print(line, flush=True),
            )
    for failure in report.failures:
        print(f"\nFAILURE {failure}")
    for error in report.errors:
        print(f"\nERROR {error}")
    print(f"\n{report.summary()}")
    for label, reason in sorted(CONTRACT_422.items()):
        print(f"  422 accepted for schema-valid input on {label}: {reason}")
    print(f"  412 accepted on {EXPECTED_412}")
    finished = report.stop_reason in ("completed", "max_time")
    return 0 if finished and not report.failures and not report.errors else 1


if __name__ == "__main__":
    sys.exit(main())
