"""Give every function's IAM database user the data privileges it needs, idempotently.

    python scripts/grant_db_access.py --project PROJECT

Runs as the migrator (the owner of the schema's tables), right after
`alembic upgrade head`, with the same environment as alembic (CLOUD_SQL_INSTANCE,
DB_USER, ... or DATABASE_URL): the deploy workflow's migrate job calls it. Each function
user (functions.json "deploy.names.function_service_account" + "@<project>.iam") gets
SELECT/INSERT/UPDATE/DELETE on the tables and USAGE/SELECT on the sequences of schema
public, now and for tables the migrator creates later (ALTER DEFAULT PRIVILEGES). No DDL.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: scripts.*

from scripts import stage_function
from scripts.deploy_plan import render


def function_db_users(project: str) -> list[str]:
    catalog = stage_function.load_functions()
    template = catalog["deploy"]["names"]["function_service_account"]
    return [
        render(template, {"project": project, "function": fn["name"]}) + f"@{project}.iam"
        for fn in catalog["functions"]
    ]


def statements(users: list[str]) -> list[str]:
    out: list[str] = []
    for user in users:
        role = '"' + user.replace('"', '""') + '"'
        out += [
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        ]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True, help="Google Cloud project id")
    parser.add_argument("--print", action="store_true", help="print the SQL, run nothing")
    args = parser.parse_args()
    sql = statements(function_db_users(args.project))
    if args.print:
        print(";\n".join(sql) + ";")
        return 0

    from sqlalchemy import text

    from common.config import get_settings
    from common.db import make_engine

    engine = make_engine(get_settings(), pooled=False)
    with engine.begin() as connection:
        for statement in sql:
            connection.execute(text(statement))
    engine.dispose()
    print(f"granted data access to {len(sql) // 4} function users")
    return 0


if __name__ == "__main__":
    sys.exit(main())
