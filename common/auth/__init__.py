"""Authentication building blocks shared by the functions.

- `common.auth.passwords`: argon2id hashing, the dummy-hash path for unknown users,
  and the password policy (length, common-password list).
- `common.auth.tokens`: Ed25519 access tokens (JWT), the verification key ring,
  dev key generation, and opaque refresh tokens.

This package imports nothing on purpose: argon2, pyjwt and cryptography load only
in the submodule that needs them, so a function pays only for what it uses.
"""
