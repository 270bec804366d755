"""infra/ keeps the promises docs/deployment.md makes, checked as policies.

Terraform itself cannot plan here (its providers come from a registry out of reach;
scripts/check_infra_schema.py checks the names against the providers' schemas). These
tests read the configuration with python-hcl2 and check what it guarantees, not how it
is spelled: every function gets one of each piece, function identities get only the
roles they need, secrets are pinned, Terraform never owns the code and agrees with
deploy.sh on everything else, every API used is enabled. Where the terraform binary is
installed, expressions that need no provider are also evaluated (terraform console).
"""

from __future__ import annotations

import ipaddress
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
# The pieces every function gets exactly one of.
PER_FUNCTION = (
    "google_cloudfunctions2_function",
    "google_compute_region_network_endpoint_group",
    "google_compute_backend_service",
    "google_service_account",  # (plus the build/scheduler/migrator/deployer accounts)
    "google_sql_user",
    "google_monitoring_uptime_check_config",
    "google_cloud_run_service_iam_member",
)
# What a function's own identity may be granted, anywhere (architecture: "one service
# account per function with only the roles it needs").
FUNCTION_ROLES = {
    "roles/cloudsql.client",
    "roles/cloudsql.instanceUser",
    "roles/secretmanager.secretAccessor",
    "roles/firebasecloudmessaging.admin",  # notifications only (functions.json extras)
}
# The API each family of resources (or the tool that deploys it) calls.
API_OF = {
    "google_cloudfunctions2_": {
        "cloudfunctions.googleapis.com",
        "run.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
    },
    "google_cloud_run_": {"run.googleapis.com"},
    "google_project_iam_": {"cloudresourcemanager.googleapis.com"},
    "google_project": {"cloudresourcemanager.googleapis.com"},
    "google_service_account": {"iam.googleapis.com"},
    "google_iam_workload_identity_pool": {
        "iam.googleapis.com",
        "sts.googleapis.com",
        "iamcredentials.googleapis.com",
    },
    "google_sql_": {"sqladmin.googleapis.com"},
    "google_compute_": {"compute.googleapis.com"},
    "google_secret_manager_": {"secretmanager.googleapis.com"},
    "google_cloud_scheduler_": {"cloudscheduler.googleapis.com"},
    "google_vpc_access_": {"vpcaccess.googleapis.com"},
    "google_service_networking_": {"servicenetworking.googleapis.com"},
    "google_monitoring_": {"monitoring.googleapis.com"},
    "google_logging_": {"logging.googleapis.com"},
    "google_storage_": {"storage.googleapis.com"},
}


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


def expanded(tf: dict[str, Any], value: Any, depth: int = 0) -> str:
    """An expression's text with every local.<name> it uses spelled out (recursively)."""
    text = value if isinstance(value, str) else json.dumps(value)
    if depth > 8:
        return text
    for name in sorted(set(re.findall(r"\blocal\.(\w+)", text))):
        if name in tf["locals"]:
            text += "\n" + expanded(tf, tf["locals"][name], depth + 1)
    return text


def _for_each_functions(tf: dict[str, Any], rtype: str) -> dict[str, Any]:
    """The resources of `rtype` that iterate over the function list."""
    return {
        name: body
        for name, body in tf["resource"].get(rtype, {}).items()
        if body.get("for_each") == "${local.functions}"
    }


def _function(tf: dict[str, Any]) -> dict[str, Any]:
    [fn] = _for_each_functions(tf, "google_cloudfunctions2_function").values()
    return fn


def _iam_members(tf: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (rtype, name, body)
        for rtype, named in tf["resource"].items()
        if rtype.endswith("_iam_member")
        for name, body in named.items()
    ]


def console(module: str, expression: str, tmp_path: Path) -> Any:
    """Evaluate a provider-free expression with `terraform console` in a scratch module."""
    (tmp_path / "main.tf").write_text(module)
    result = subprocess.run(
        ["terraform", "console"],
        input=f"jsonencode({expression})\n",
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    quoted = next(line for line in result.stdout.splitlines() if line.startswith('"'))
    return json.loads(json.loads(quoted))


needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform")


# --- every function, one of each ---------------------------------------------------


def test_every_tf_file_parses() -> None:
    files = sorted(INFRA.glob("*.tf"))
    assert len(files) >= 8
    for path in files:
        with path.open() as handle:
            assert hcl2.load(handle), path.name


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


@needs_terraform
def test_local_functions_are_the_entries_of_functions_json(
    tf: dict[str, Any], tmp_path: Path, functions: dict[str, dict[str, Any]]
) -> None:
    # What `for_each = local.functions` iterates over, evaluated from infra/main.tf's own
    # expressions (path.module pointed at infra/).
    module = (
        "locals {\n"
        f"  catalog = jsondecode(file({json.dumps(str(REPO / 'functions.json'))}))\n"
        f"  functions = {tf['locals']['functions'][2:-1]}\n"
        "}\n"
    )
    assert console(module, "keys(local.functions)", tmp_path) == sorted(functions)


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


def test_each_function_owns_exactly_its_prefix(tf: dict[str, Any]) -> None:
    url_maps = tf["resource"]["google_compute_url_map"]
    routing = [m for m in url_maps.values() if "path_matcher" in m]
    assert len(routing) == 1
    [matcher] = routing[0]["path_matcher"]
    assert "path_rule" not in matcher, "routes come only from the function list"
    [rules] = [d["path_rule"] for d in matcher["dynamic"] if "path_rule" in d]
    assert rules["for_each"] == "${local.functions}"
    [content] = rules["content"]
    # The contract's prefix, /v1/<function>, and everything under it, to its own backend.
    assert set(content["paths"]) == {"/v1/${path_rule.key}", "/v1/${path_rule.key}/*"}
    assert content["service"] == "${google_compute_backend_service.function[path_rule.key].id}"
    # The rest of the URL space redirects; no other backend is reachable.
    assert "default_service" not in matcher
    assert all("default_service" not in m for m in url_maps.values())


def test_https_only_through_cloudflare(tf: dict[str, Any]) -> None:
    policy = tf["resource"]["google_compute_security_policy"]["cloudflare_only"]
    [allow] = [d["rule"] for d in policy["dynamic"]]
    assert "data.cloudflare_ip_ranges" in expanded(tf, allow["for_each"])
    [default] = [r for r in policy["rule"] if r["priority"] == 2147483647]
    assert default["action"].startswith("deny")
    assert default["match"][0]["config"][0]["src_ip_ranges"] == ["*"]
    assert tf["resource"]["cloudflare_dns_record"]["api"]["proxied"] is True
    assert tf["resource"]["cloudflare_zone_setting"]["ssl"]["value"] == "strict"
    redirect = tf["resource"]["google_compute_url_map"]["http_redirect"]
    assert redirect["default_url_redirect"][0]["https_redirect"] is True


# --- identities and roles ------------------------------------------------------------


def test_function_identities_get_only_their_roles(tf: dict[str, Any]) -> None:
    granted: dict[str, set[str]] = {}
    for rtype, name, body in _iam_members(tf):
        member = expanded(tf, body["member"])
        if "each." in member:
            member += expanded(tf, body.get("for_each", ""))
        if "google_service_account.function" not in member:
            continue
        role = expanded(tf, body["role"])
        if "each." in body["role"]:
            role += expanded(tf, body.get("for_each", ""))
        roles = set(re.findall(r"roles/[\w.]+", role))
        assert roles, f"{rtype}.{name}: cannot tell which role it grants"
        granted[f"{rtype}.{name}"] = roles
    assert granted, "no grant to the functions' accounts found: the test reads nothing"
    every_role = set().union(*granted.values())
    assert every_role <= FUNCTION_ROLES, {k: v - FUNCTION_ROLES for k, v in granted.items()}


def test_cloud_sql_roles_are_limited_to_the_instance(tf: dict[str, Any]) -> None:
    for _, name, body in _iam_members(tf):
        roles = set(re.findall(r"roles/cloudsql\.\w+", expanded(tf, body)))
        if not roles:
            continue
        [condition] = body["condition"]
        assert "sqladmin.googleapis.com/Instance" in expanded(tf, condition["expression"])
        assert "local.names.sql_instance" in expanded(tf, condition["expression"]), name


def test_every_database_login_can_reach_the_instance(tf: dict[str, Any]) -> None:
    # A Cloud SQL IAM user is useless without cloudsql.client + instanceUser: every
    # google_sql_user's identity is among the members that get them (db_admin_users too).
    [sql_grants] = [
        body
        for _, _, body in _iam_members(tf)
        if {"roles/cloudsql.client", "roles/cloudsql.instanceUser"}
        <= set(re.findall(r"roles/[\w.]+", expanded(tf, body)))
    ]
    members = expanded(tf, sql_grants)
    for name, user in tf["resource"]["google_sql_user"].items():
        identities = set(re.findall(r"var\.\w+|google_service_account\.\w+", json.dumps(user)))
        assert identities, name
        assert {i for i in identities if i not in members} == set(), name


def test_build_account_reads_the_sources_cloud_functions_builds_from(tf: dict[str, Any]) -> None:
    # Cloud Functions copies the source into gcf-v2-sources-<project number>-<region> and
    # the build fetches it from there (hashicorp/terraform-provider-google#20571).
    readers = [
        body
        for _, _, body in _iam_members(tf)
        if "google_service_account.build" in body["member"]
        and body["role"] == "roles/storage.objectViewer"
        and "gcf-v2-sources-" in expanded(tf, body.get("condition", ""))
    ]
    assert len(readers) == 1
    condition = expanded(tf, readers[0]["condition"])
    assert "data.google_project.this.number" in condition
    assert "var.region" in condition
    # and the builds wait for the grants to propagate
    fn = _function(tf)
    waits = [d for d in fn["depends_on"] if d.startswith("${time_sleep.")]
    assert waits
    [sleep] = [tf["resource"]["time_sleep"][w[2:-1].split(".")[1]] for w in waits]
    assert "build_reads_gcf_sources" in json.dumps(sleep)


# --- secrets, environment, and who owns the code ---------------------------------------


def test_every_secret_env_var_references_a_pinned_version(tf: dict[str, Any]) -> None:
    [service] = _function(tf)["service_config"]
    [secrets] = [d["secret_environment_variables"] for d in service["dynamic"]]
    [content] = secrets["content"]
    assert content["version"].startswith("${var.secret_versions[")
    [validation] = tf["variable"]["secret_versions"]["validation"]
    pattern = re.search(r'regex\("([^"]+)"', validation["condition"])
    assert pattern is not None
    regex = pattern[1].replace("\\\\", "\\")
    assert re.fullmatch(regex, "12")
    assert not re.fullmatch(regex, "latest")
    # The project as a number, as gcloud stores it: no diff after a deploy.sh.
    assert content["project_id"] == "${data.google_project.this.number}"
    # Every secret a function lists, and only those, under the variable common.config reads.
    assert "each.value.secrets" in secrets["for_each"]


def test_terraform_never_owns_the_code(tf: dict[str, Any]) -> None:
    fn = _function(tf)
    [lifecycle] = fn["lifecycle"]
    ignored = set(lifecycle["ignore_changes"])
    assert "${build_config[0].source}" in ignored
    assert '${service_config[0].environment_variables["RELEASE"]}' in ignored
    [build] = fn["build_config"]
    obj = build["source"][0]["storage_source"][0]["object"]
    # What Terraform uploads is the placeholder, never the staged build/.
    uploaded = re.search(r"google_storage_bucket_object\.(\w+)", obj)
    assert uploaded is not None
    body = tf["resource"]["google_storage_bucket_object"][uploaded[1]]
    assert "build" not in expanded(tf, body["source"]).replace("build_config", "")
    assert "placeholder" in expanded(tf, body["source"])


def test_template_variables_agree_with_deploy_plan(
    tf: dict[str, Any], plan: ModuleType, catalog: dict
) -> None:
    # Terraform renders the same ${...} names deploy_plan.py does (so a template that one
    # knows and the other does not cannot pass unnoticed).
    text = expanded(tf, tf["locals"]["function_env"])
    match = re.search(r"templatestring\(template, \{(.*?)\}\)", text, re.S)
    assert match is not None
    terraform_names = set(re.findall(r"(\w+)\s*=", match[1]))
    conf = plan.DeployConfig("p", "r", "api.example.com", {}, "k", "p")
    fn = catalog["functions"][0]
    assert terraform_names == set(plan.template_variables(catalog, fn, conf, "0" * 64))
    # and drops what renders empty, as deploy_plan.function_env does
    assert 'if value != ""' in text


def test_every_google_api_used_is_enabled(tf: dict[str, Any]) -> None:
    apis = tf["resource"]["google_project_service"]["apis"]["for_each"]
    enabled = set(re.findall(r"[a-z]+\.googleapis\.com", apis))
    needed: set[str] = set()
    for rtype in sorted(set(tf["resource"]) | set(tf["data"])):
        if not rtype.startswith("google_") or rtype == "google_project_service":
            continue
        matching = [needs for prefix, needs in API_OF.items() if rtype.startswith(prefix)]
        assert matching, f"{rtype}: which API does it call? add it to API_OF"
        needed = needed.union(*matching)
    # gcloud functions deploy looks the project number up in Resource Manager.
    needed.add("cloudresourcemanager.googleapis.com")
    assert needed - enabled == set()


# --- the database and the network ------------------------------------------------------


def test_database_settings(tf: dict[str, Any]) -> None:
    instance = tf["resource"]["google_sql_database_instance"]["main"]
    assert instance["deletion_protection"] is True
    [settings] = instance["settings"]
    assert settings["deletion_protection_enabled"] is True
    flags = {f["name"]: f["value"] for f in settings["database_flags"]}
    assert flags["cloudsql.iam_authentication"] == "on"
    assert "local.db.max_connections" in flags["max_connections"]
    [backup] = settings["backup_configuration"]
    assert backup["enabled"] is True
    assert backup["point_in_time_recovery_enabled"] is True
    assert settings["ip_configuration"][0]["private_network"] == "${google_compute_network.main.id}"


def test_default_ranges_are_pinned_and_apart(tf: dict[str, Any]) -> None:
    address = tf["resource"]["google_compute_global_address"]["private_services"]
    assert "var.private_services_cidr" in address["address"]
    connector = ipaddress.ip_network(tf["variable"]["vpc_connector_cidr"]["default"])
    private = ipaddress.ip_network(tf["variable"]["private_services_cidr"]["default"])
    assert not connector.overlaps(private)


@needs_terraform
@pytest.mark.parametrize(
    ("connector", "private", "overlap"),
    [
        ("10.8.0.0/28", "10.16.0.0/20", False),
        ("10.16.4.0/28", "10.16.0.0/20", True),  # inside
        ("10.15.255.240/28", "10.16.0.0/20", False),  # just below
        ("10.16.15.240/28", "10.16.0.0/20", True),  # the last /28 of the range
        ("10.16.16.0/28", "10.16.0.0/20", False),  # just above
    ],
)
def test_the_overlap_precondition_computes_overlap(
    tf: dict[str, Any], tmp_path: Path, connector: str, private: str, overlap: bool
) -> None:
    assert ipaddress.ip_network(connector).overlaps(ipaddress.ip_network(private)) == overlap
    module = (
        "locals {\n"
        f'  ranges = {{ vpc_connector = "{connector}", private_services = "{private}" }}\n'
        f"  range_bounds = {tf['locals']['range_bounds'][2:-1]}\n"
        f"  ranges_overlap = {tf['locals']['ranges_overlap'][2:-1]}\n"
        "}\n"
    )
    assert console(module, "local.ranges_overlap", tmp_path) is overlap
