"""scripts/check_infra_schema.py: infra/ against the providers' schema facts.

It runs in `make lint`; here it is run on infra/ as it is (it must pass) and on copies
of infra/ with one deliberate mistake each (it must name that mistake, at its line).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import hcl2
import pytest

from tests.deploy.conftest import REPO

pytestmark = pytest.mark.deploy

INFRA = REPO / "infra"
CHECK = REPO / "scripts" / "check_infra_schema.py"


def check(infra: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--infra", str(infra)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def broken(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of infra/ with `old` replaced by `new` once in `file`."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    text = (copy / file).read_text()
    assert text.count(old) >= 1, f"{old!r} is not in {file}"
    (copy / file).write_text(text.replace(old, new, 1))
    return copy


def line_of(file: str, text: str) -> int:
    for number, line in enumerate((INFRA / file).read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {file}")


def test_infra_matches_the_pinned_providers() -> None:
    result = check(INFRA)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "match hashicorp/archive 2.8.0, cloudflare/cloudflare 5.22.0" in result.stdout


def test_the_v4_ip_ranges_attribute_is_caught(tmp_path: Path) -> None:
    # Defect 1 of issue 17: cloudflare v5 exports ipv4_cidrs, not ipv4_cidr_blocks.
    line = line_of("loadbalancer.tf", "current.ipv4_cidrs")
    infra = broken(tmp_path, "loadbalancer.tf", "current.ipv4_cidrs", "current.ipv4_cidr_blocks")
    result = check(infra)
    assert result.returncode == 1
    assert (
        f"infra/loadbalancer.tf:{line}: data.cloudflare_ip_ranges.current has no attribute "
        "ipv4_cidr_blocks (did you mean ipv4_cidrs, ipv6_cidrs?)"
    ) in result.stdout.splitlines()


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "database.tf",
            "ssl_mode =",
            "sslmode =",
            "google_sql_database_instance.main.settings.ip_configuration: unsupported argument "
            "sslmode (did you mean ssl_mode?)",
        ),
        (
            "database.tf",
            "insights_config {",
            "insight_config {",
            "google_sql_database_instance.main.settings: unsupported block type insight_config "
            "(did you mean insights_config",
        ),
        (
            "iam.tf",
            'resource "google_service_account" "scheduler" {',
            'resource "google_service_accounts" "scheduler" {',
            "google_service_accounts.scheduler: hashicorp/google 7.45.0 has no resource type "
            "google_service_accounts",
        ),
        (
            "iam.tf",
            'account_id   = "sealy-migrate"',
            'email = "sealy-migrate"',
            "google_service_account.migrator: email is computed, it cannot be set",
        ),
        (
            "iam.tf",
            'account_id   = "sealy-migrate"',
            "",
            "google_service_account.migrator: the argument account_id is required",
        ),
        (
            "loadbalancer.tf",
            "function[each.key].name",
            "function[each.key].names",
            "google_cloudfunctions2_function.function has no attribute names (did you mean name?)",
        ),
        (
            "functions.tf",
            "service_config[0].environment_variables",
            "service_config[0].environment_variable",
            "google_cloudfunctions2_function.function.service_config has no attribute "
            "environment_variable (did you mean environment_variables",
        ),
        (
            "functions.tf",
            'dynamic "secret_environment_variables"',
            'dynamic "secret_environment_variable"',
            "google_cloudfunctions2_function.function.service_config: unsupported block type "
            "secret_environment_variable (did you mean secret_environment_variables?)",
        ),
        (
            "scheduler.tf",
            "var.region",
            "var.regions",
            "var.regions is not declared",
        ),
        (
            "iam.tf",
            "google_service_account.function[each.key].name",
            "google_service_account.function.name",
            "google_service_account.function has for_each: index it "
            "(google_service_account.function[...].name)",
        ),
        (
            "versions.tf",
            '"~> 7.45.0"',
            '"~> 7.0"',
            'provider hashicorp/google: version "~> 7.0" admits versions other than 7.45.0\'s',
        ),
    ],
)
def test_a_wrong_name_is_caught_at_its_line(
    tmp_path: Path, file: str, old: str, new: str, expected: str
) -> None:
    result = check(broken(tmp_path, file, old, new))
    assert result.returncode == 1, result.stdout
    assert any(expected in line for line in result.stdout.splitlines()), result.stdout


def test_the_reader_sees_the_blocks_python_hcl2_sees() -> None:
    # The check reads HCL itself (standard library only); it must find the same blocks.
    from scripts import check_infra_schema

    for path in sorted(INFRA.glob("*.tf")):
        ours = [
            (b.type, *b.labels) for b in check_infra_schema.parse_file(path) if hasattr(b, "body")
        ]
        with path.open() as handle:
            theirs = [
                (kind, *(k.strip('"') for k in _labels(entry)))
                for kind, entries in hcl2.load(handle).items()
                if kind != "__comments__"
                for entry in entries
            ]
        assert sorted(ours) == sorted(theirs), path.name


def _labels(entry: dict) -> list[str]:
    labels: list[str] = []
    while isinstance(entry, dict) and len(entry) == 1 and "__is_block__" not in entry:
        (key,) = entry
        if not key.startswith('"'):
            break
        labels.append(key)
        entry = entry[key]
    return labels


def test_the_facts_say_where_they_come_from() -> None:
    versions = {}
    for path in sorted((INFRA / "provider-schemas").glob("*.json")):
        facts = json.loads(path.read_text())
        assert facts["ref"] == f"v{facts['version']}"
        assert len(facts["commit"]) == 40
        assert facts["source"].startswith("https://github.com/")
        assert facts["resource_types"]
        versions[facts["provider"]] = facts["version"]
    assert versions == {
        "hashicorp/google": "7.45.0",
        "cloudflare/cloudflare": "5.22.0",
        "hashicorp/archive": "2.8.0",
        "hashicorp/time": "0.14.0",
    }
