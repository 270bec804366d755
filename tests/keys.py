"""Signing keys for the test run: made fresh, never the dev keys under .sealy/."""

from __future__ import annotations

import json
import os


def install_test_keys() -> None:
    from common.auth.tokens import generate_dev_keypair

    kid, private_pem, public_pem = generate_dev_keypair(kid_prefix="test-")
    os.environ["JWT_SIGNING_KEY"] = private_pem
    os.environ["JWT_SIGNING_KID"] = kid
    os.environ["JWT_PUBLIC_KEYS"] = json.dumps({kid: public_pem})
