"""infra/ parses, and every function in functions.json gets exactly one of each piece.

Terraform itself cannot run here (its providers come from a registry out of reach), so
these tests read the configuration with python-hcl2 and check what the `for_each`
expressions iterate over. Where the terraform binary is installed, it also evaluates the
source-hash expression, which must agree with scripts/stage_function.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import hcl2
import pytest

from tests.deploy.conftest import REPO

pytestmark = pytest.mark.deploy

INFRA = REPO / "infra"
# The pieces every function gets exactly one of, each `for_each = local.functions`.
PER_FUNCTION = (
    "google_cloudfunctions2_function",
    "google_compute_region_network_endpoint_group",
    "google_compute_backend_service",
    "google_service_account",  # (plus the build/scheduler/migrator/deployer accounts)
    "google_sql_user",
    "google_monitoring_uptime_check_config",
    "google_cloud_run_service_iam_member",
)


def _clean(value: Any) -> Any:
    """python-hcl2 keeps HCL's quotes and adds markers: strip both."""
    if isinstance(value, dict):
        return {
            _clean(k): _clean(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    """All of infra/*.tf: {"resource": {type: {name: body}}, "locals": {...}, ...}."""
    merged: dict[str, Any] = {"resource": {}, "data": {}, "locals": {}, "variable": {}}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as handle:
            parsed = _clean(hcl2.load(handle))
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        assert name not in merged[kind].setdefault(rtype, {}), f"{rtype}.{name}"
                        merged[kind][rtype][name] = body
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        for block in parsed.get("variable", []):
            merged["variable"].update(block)
    return merged


def _for_each_functions(tf: dict[str, Any], rtype: str) -> dict[str, Any]:
    """The resources of `rtype` that iterate over the function list."""
    return {
        name: body
        for name, body in tf["resource"].get(rtype, {}).items()
        if body.get("for_each") == "${local.functions}"
    }


def test_every_tf_file_parses() -> None:
    files = sorted(INFRA.glob("*.tf"))
    assert len(files) >= 8
    for path in files:
        with path.open() as handle:
            assert hcl2.load(handle), path.name


def test_local_functions_is_the_list_in_functions_json(tf: dict[str, Any]) -> None:
    # So `for_each = local.functions` iterates exactly over functions.json's names.
    assert tf["locals"]["catalog"] == '${jsondecode(file("${path.module}/../functions.json"))}'
    assert tf["locals"]["functions"] == "${{for fn in local.catalog.functions : fn.name => fn}}"


@pytest.mark.parametrize("rtype", PER_FUNCTION)
def test_exactly_one_per_function(tf: dict[str, Any], rtype: str) -> None:
    per_function = _for_each_functions(tf, rtype)
    assert len(per_function) == 1, f"{rtype}: {sorted(per_function)}"


@pytest.mark.parametrize(
    "rtype",
    [
        "google_cloudfunctions2_function",
        "google_compute_region_network_endpoint_group",
        "google_compute_backend_service",
    ],
)
def test_nothing_else_has_a_function_neg_or_backend(tf: dict[str, Any], rtype: str) -> None:
    assert set(tf["resource"][rtype]) == set(_for_each_functions(tf, rtype))


def test_function_resource_takes_its_settings_from_the_list(tf: dict[str, Any]) -> None:
    [fn] = _for_each_functions(tf, "google_cloudfunctions2_function").values()
    assert fn["name"] == "${each.key}"
    [build] = fn["build_config"]
    assert build["entry_point"] == "${each.value.entry_point}"
    assert build["runtime"] == "${local.catalog.deploy.runtime}"
    [storage] = build["source"][0]["storage_source"]
    assert storage["object"] == "${google_storage_bucket_object.source[each.key].name}"
    [service] = fn["service_config"]
    assert service["available_memory"] == "${each.value.memory}"
    assert service["available_cpu"] == "${each.value.cpu}"
    assert service["timeout_seconds"] == "${each.value.timeout_s}"
    assert service["min_instance_count"] == "${each.value.min_instances}"
    assert service["max_instance_count"] == "${each.value.max_instances}"
    assert service["max_instance_request_concurrency"] == "${each.value.concurrency}"
    assert service["ingress_settings"] == "ALLOW_INTERNAL_AND_GCLB"
    assert service["service_account_email"] == "${google_service_account.function[each.key].email}"
    assert service["environment_variables"] == "${local.function_env[each.key]}"
    [secrets] = [d["secret_environment_variables"] for d in service["dynamic"]]
    assert secrets["for_each"] == "${toset(each.value.secrets)}"
    assert secrets["content"][0]["version"] == (
        "${var.secret_versions[secret_environment_variables.value]}"
    )


def test_source_object_is_named_by_the_source_hash(tf: dict[str, Any]) -> None:
    [obj] = _for_each_functions(tf, "google_storage_bucket_object").values()
    assert obj["name"] == "${each.key}/${local.source_hash[each.key]}.zip"


def test_each_neg_backend_and_route_chain_to_their_own_function(tf: dict[str, Any]) -> None:
    [neg] = _for_each_functions(tf, "google_compute_region_network_endpoint_group").values()
    assert neg["network_endpoint_type"] == "SERVERLESS"
    assert neg["cloud_run"][0]["service"] == (
        "${google_cloudfunctions2_function.function[each.key].name}"
    )
    [backend] = _for_each_functions(tf, "google_compute_backend_service").values()
    assert backend["backend"][0]["group"] == (
        "${google_compute_region_network_endpoint_group.function[each.key].id}"
    )
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert backend["security_policy"] == "${google_compute_security_policy.cloudflare_only.id}"


def test_url_map_routes_each_prefix_to_its_backend_and_nothing_else(tf: dict[str, Any]) -> None:
    url_maps = tf["resource"]["google_compute_url_map"]
    routing = [m for m in url_maps.values() if "path_matcher" in m]
    assert len(routing) == 1
    [matcher] = routing[0]["path_matcher"]
    assert "path_rule" not in matcher, "routes come only from the function list"
    [rules] = [d["path_rule"] for d in matcher["dynamic"] if "path_rule" in d]
    assert rules["for_each"] == "${local.functions}"
    [content] = rules["content"]
    assert content["paths"] == ["/v1/${path_rule.key}", "/v1/${path_rule.key}/*"]
    assert content["service"] == "${google_compute_backend_service.function[path_rule.key].id}"
    # The rest of the URL space redirects; no other backend is reachable.
    assert "default_service" not in matcher
    assert all("default_service" not in m for m in url_maps.values())


def test_https_only_through_cloudflare(tf: dict[str, Any]) -> None:
    policy = tf["resource"]["google_compute_security_policy"]["cloudflare_only"]
    [allow] = [d["rule"] for d in policy["dynamic"]]
    assert allow["for_each"] == "${chunklist(local.cloudflare_ranges, 10)}"
    [default] = [r for r in policy["rule"] if r["priority"] == 2147483647]
    assert default["action"] == "deny(403)"
    assert tf["resource"]["cloudflare_dns_record"]["api"]["proxied"] is True
    assert tf["resource"]["cloudflare_zone_setting"]["ssl"]["value"] == "strict"
    redirect = tf["resource"]["google_compute_url_map"]["http_redirect"]
    assert redirect["default_url_redirect"][0]["https_redirect"] is True


def test_database_settings(tf: dict[str, Any]) -> None:
    instance = tf["resource"]["google_sql_database_instance"]["main"]
    assert instance["deletion_protection"] is True
    [settings] = instance["settings"]
    flags = {f["name"]: f["value"] for f in settings["database_flags"]}
    assert flags["cloudsql.iam_authentication"] == "on"
    assert flags["max_connections"] == "${tostring(local.db.max_connections)}"
    [backup] = settings["backup_configuration"]
    assert backup["enabled"] is True
    assert backup["point_in_time_recovery_enabled"] is True
    assert settings["ip_configuration"][0]["private_network"] == "${google_compute_network.main.id}"


def test_signing_key_access_follows_the_list(tf: dict[str, Any]) -> None:
    access = tf["resource"]["google_secret_manager_secret_iam_member"]["function"]
    assert access["for_each"] == "${local.secret_access}"
    assert access["member"] == "${google_service_account.function[each.value.function].member}"


def test_template_variables_agree_with_deploy_plan(plan: ModuleType, catalog: dict) -> None:
    text = (INFRA / "functions.tf").read_text()
    block = re.search(r"templatestring\(template, \{(.*?)\}\)", text, re.S)
    assert block is not None
    terraform_names = set(re.findall(r"^\s*(\w+)\s*=", block[1], re.M))
    conf = plan.DeployConfig("p", "r", "api.example.com", {}, "k", "p")
    fn = catalog["functions"][0]
    assert terraform_names == set(plan.template_variables(catalog, fn, conf, "0" * 64))


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_computes_the_same_source_hash(tmp_path: Path, stage: ModuleType) -> None:
    (tmp_path / "build" / "demo" / "common").mkdir(parents=True)
    (tmp_path / "build" / "demo" / "main.py").write_text("def demo(request):\n    return 'ok'\n")
    (tmp_path / "build" / "demo" / "common" / "x.py").write_bytes(b"\x00binary\xff")
    (tmp_path / "build" / "demo" / "requirements.txt").write_text("flask==3.1.2\n")
    with (INFRA / "functions.tf").open() as handle:
        expression = _clean(hcl2.load(handle))["locals"][0]["source_hash"]
    assert expression.startswith("${")
    assert expression.endswith("}")
    module = tmp_path / "module"
    module.mkdir()
    (module / "main.tf").write_text(
        "locals {\n"
        f'  build_dir   = "{(tmp_path / "build").as_posix()}"\n'
        "  functions   = { demo = {} }\n"
        f"  source_hash = {expression[2:-1]}\n"
        "}\n"
    )
    result = subprocess.run(
        ["terraform", "console"],
        input="jsonencode(local.source_hash)\n",
        cwd=module,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    quoted = next(line for line in result.stdout.splitlines() if line.startswith('"'))
    computed = json.loads(json.loads(quoted))
    assert computed == {"demo": stage.source_hash(tmp_path / "build" / "demo")}
