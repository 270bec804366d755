"""Measure argon2id verification with Sealy's parameters on this machine.

    python scripts/bench_argon2.py [--runs 50]

Prints the p50 (and p90, max) of a bare `PasswordHasher.verify` with the
parameters in `common.auth.passwords.ARGON2_PARAMETERS`, then the same for
`verify_password` (adds NFKC normalisation) and for the unknown-user dummy path.
A measurement for the issue's closing note, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse

from argon2 import PasswordHasher

from common.auth.passwords import ARGON2_PARAMETERS, verify_password
from scripts.timing import measure_ms, report

PASSWORD = "correct horse battery staple"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    params = ARGON2_PARAMETERS
    print(
        f"argon2id m={params.memory_cost} KiB ({params.memory_cost / 1024:g} MiB), "
        f"t={params.time_cost}, p={params.parallelism}; {args.runs} runs"
    )
    hasher = PasswordHasher.from_parameters(params)
    stored = hasher.hash(PASSWORD)
    report(
        "bare PasswordHasher.verify",
        measure_ms(lambda: hasher.verify(stored, PASSWORD), runs=args.runs),
    )
    report(
        "verify_password (right password)",
        measure_ms(lambda: verify_password(stored_hash=stored, password=PASSWORD), runs=args.runs),
    )
    report(
        "verify_password (unknown user, dummy)",
        measure_ms(lambda: verify_password(stored_hash=None, password=PASSWORD), runs=args.runs),
    )


if __name__ == "__main__":
    main()
