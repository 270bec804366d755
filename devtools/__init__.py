"""Local tooling: the embedded database, the dev gateway, the `make dev` launcher."""
