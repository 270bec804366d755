"""functions.json, the one list that deploy.sh, Terraform and these tests read."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.conftest import REPO

pytestmark = pytest.mark.deploy


def test_connection_budget_fits_max_connections(catalog: dict[str, Any]) -> None:
    database = catalog["database"]
    demand = sum(
        fn["max_instances"] * (fn["pool_size"] + fn["max_overflow"]) for fn in catalog["functions"]
    )
    assert demand + database["reserved_connections"] <= database["max_connections"], (
        f"{demand} pooled connections at full scale + {database['reserved_connections']} "
        f"reserved > max_connections {database['max_connections']}"
    )


@pytest.mark.parametrize(
    "field", ["max_instances", "concurrency", "threads", "pool_size", "timeout_s"]
)
def test_limits_are_positive(functions: dict[str, dict[str, Any]], field: str) -> None:
    assert all(fn[field] > 0 for fn in functions.values())


def test_threads_match_concurrency_and_cover_the_pool(functions: dict[str, dict[str, Any]]) -> None:
    for name, fn in functions.items():
        # One gunicorn thread per concurrent request; never more connections than threads.
        assert fn["threads"] == fn["concurrency"], name
        assert fn["pool_size"] + fn["max_overflow"] <= fn["threads"], name
        assert 0 <= fn["min_instances"] <= fn["max_instances"], name


def test_every_function_folder_is_listed_and_every_entry_has_a_folder(
    functions: dict[str, dict[str, Any]],
) -> None:
    folders = {p.parent.name for p in (REPO / "functions").glob("*/main.py")}
    assert folders == set(functions)
    for name, fn in functions.items():
        source = (REPO / "functions" / name / "main.py").read_text()
        assert re.search(rf"^def {fn['entry_point']}\(", source, re.M), name


def test_only_auth_reads_the_signing_key(functions: dict[str, dict[str, Any]]) -> None:
    readers = {name for name, fn in functions.items() if "jwt-signing-key" in fn["secrets"]}
    assert readers == {"auth"}
    assert all("jwt-public-keys" in fn["secrets"] for fn in functions.values())


def test_firebase_only_where_the_notifications_extra_is(
    functions: dict[str, dict[str, Any]], stage: ModuleType
) -> None:
    for name, fn in functions.items():
        requirements = stage.requirements_for(fn)
        assert ("firebase-admin==" in requirements) == ("notifications" in fn["extras"]), name
        assert "alembic==" not in requirements, name  # migrations run outside the functions
        pins = [line for line in requirements.splitlines() if not line.startswith("#")]
        assert pins
        assert all(re.fullmatch(r"[a-z0-9._-]+(\[[a-z0-9,_-]+\])?==\S+", p) for p in pins), name


def test_templates_use_only_known_placeholders(catalog: dict[str, Any], plan: ModuleType) -> None:
    conf = plan.read_config(
        [fn["name"] for fn in catalog["functions"]],
        {
            "SEALY_PROJECT": "p",
            "SEALY_REGION": "r",
            "SEALY_API_HOST": "api.example.com",
            "SEALY_SECRET_VERSIONS": "jwt-signing-key=1,jwt-public-keys=1,cursor-secret=1,"
            "dispatch-token=1,code-secret=1,smtp-password=1",
            "SEALY_JWT_SIGNING_KID": "k",
            "SEALY_SMTP_HOST": "smtp.example.com",
            "SEALY_SMTP_FROM": "Sealy <no-reply@example.com>",
        },
        catalog,
    )
    for fn in catalog["functions"]:
        env = plan.function_env(catalog, fn, conf, "0" * 64)  # raises on an unknown ${name}
        assert "$" not in "".join(env.values())
        assert env["THREADS"] == str(fn["threads"])
        assert env["DB_POOL_SIZE"] == str(fn["pool_size"])
        assert env["ENV"] == "prod"


def test_schedules_target_their_own_function(functions: dict[str, dict[str, Any]]) -> None:
    for name, fn in functions.items():
        for schedule in fn.get("schedules", []):
            assert schedule["path"].startswith(f"/v1/{name}/"), schedule
            assert schedule["method"] in {"GET", "POST"}
            assert len(schedule["cron"].split()) == 5


# Cloudflare answers 524 when the origin has not responded within 100 s (its proxy read
# timeout; the zone setting that raises it is for Enterprise plans only). Every request,
# Cloud Scheduler's dispatch included, goes through Cloudflare: a function must give up
# first, with a margin for the way through the load balancer.
CLOUDFLARE_PROXY_READ_TIMEOUT_S = 100
MARGIN_S = 10


def test_every_function_ends_before_cloudflare_gives_up(
    functions: dict[str, dict[str, Any]],
) -> None:
    too_long = {
        name: fn["timeout_s"]
        for name, fn in functions.items()
        if fn["timeout_s"] > CLOUDFLARE_PROXY_READ_TIMEOUT_S - MARGIN_S
    }
    assert too_long == {}
