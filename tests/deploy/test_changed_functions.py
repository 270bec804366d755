"""The deploy workflow deploys what differs from what is deployed (scripts/changed_functions.py).

gcloud is replaced at the process boundary (tests/deploy/conftest.py, FakeGcloud): deploy.sh
really runs and its `gcloud functions deploy` commands are recorded; what they deployed is
fed back as `gcloud functions list`, the way the real API would list it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import DEPLOY_ENV, REPO, FakeGcloud, run_script

pytestmark = pytest.mark.deploy

SCRIPT = str(REPO / "scripts" / "changed_functions.py")


def plan(fake: FakeGcloud, build: Path, **env: str) -> tuple[list[str], str]:
    result = run_script(
        "python3", SCRIPT, env=fake.env(**{**DEPLOY_ENV, "SEALY_BUILD_DIR": str(build), **env})
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("functions=")
    return json.loads(line.removeprefix("functions=")), result.stderr


def deploy(fake: FakeGcloud, target: str, build: Path, **env: str) -> None:
    result = run_script(
        "bash",
        str(REPO / "deploy.sh"),
        target,
        env=fake.env(
            **DEPLOY_ENV, SEALY_BUILD_DIR=str(build), SEALY_DEPLOY_ENV="/nonexistent", **env
        ),
    )
    assert result.returncode == 0, result.stderr


def listing_from_deploys(fake: FakeGcloud, state: str = "ACTIVE") -> list[dict[str, Any]]:
    """What `gcloud functions list` shows after the recorded deploys (last one wins)."""
    project, region = DEPLOY_ENV["SEALY_PROJECT"], DEPLOY_ENV["SEALY_REGION"]
    functions: dict[str, dict[str, Any]] = {}
    for call in fake.calls():
        if call[:2] != ["functions", "deploy"]:
            continue
        [labels] = [a.split("=", 1)[1] for a in call if a.startswith("--update-labels=")]
        functions[call[2]] = {
            "name": f"projects/{project}/locations/{region}/functions/{call[2]}",
            "state": state,
            "environment": "GEN_2",
            "labels": {
                "deployment-tool": "cli-gcloud",
                **dict(kv.split("=") for kv in labels.split(",")),
            },
        }
    return list(functions.values())


def test_nothing_deployed_yet_means_every_function(
    fake_gcloud: FakeGcloud, tmp_path: Path, functions: dict[str, dict[str, Any]]
) -> None:
    pending, stderr = plan(fake_gcloud, tmp_path / "build")
    assert pending == list(functions)
    assert all(f"{name}: not deployed" in stderr for name in functions)
    [call] = fake_gcloud.calls()
    assert call[:3] == ["functions", "list", "--v2"]
    assert f"--project={DEPLOY_ENV['SEALY_PROJECT']}" in call
    assert f"--regions={DEPLOY_ENV['SEALY_REGION']}" in call


def test_after_deploy_sh_nothing_differs(fake_gcloud: FakeGcloud, tmp_path: Path) -> None:
    deploy(fake_gcloud, "all", tmp_path / "deploy-build")
    fake_gcloud.deployed(listing_from_deploys(fake_gcloud))
    pending, stderr = plan(fake_gcloud, tmp_path / "plan-build")
    assert pending == []
    assert "every function is deployed as configured" in stderr


def test_a_secret_version_bump_redeploys_only_its_readers(
    fake_gcloud: FakeGcloud, tmp_path: Path, functions: dict[str, dict[str, Any]]
) -> None:
    deploy(fake_gcloud, "all", tmp_path / "build")
    fake_gcloud.deployed(listing_from_deploys(fake_gcloud))
    bumped = DEPLOY_ENV["SEALY_SECRET_VERSIONS"].replace("dispatch-token=2", "dispatch-token=3")
    pending, _ = plan(fake_gcloud, tmp_path / "build", SEALY_SECRET_VERSIONS=bumped)
    readers = [name for name, fn in functions.items() if "dispatch-token" in fn["secrets"]]
    assert readers  # the bump must concern someone for this test to mean anything
    assert pending == readers


def test_a_code_change_redeploys_the_function(fake_gcloud: FakeGcloud, tmp_path: Path) -> None:
    deploy(fake_gcloud, "all", tmp_path / "build")
    listing = listing_from_deploys(fake_gcloud)
    # The digest deployed for `tags` came from other code: as after a push that changed it.
    tags = next(f for f in listing if f["name"].endswith("/tags"))
    tags["labels"]["sealy-deploy"] = "0" * 40
    fake_gcloud.deployed(listing)
    pending, stderr = plan(fake_gcloud, tmp_path / "build")
    assert pending == ["tags"]
    assert "tags: deployed 0000000000000000000000000000000000000000, want " in stderr


def test_a_failed_or_unfinished_deploy_is_retried(fake_gcloud: FakeGcloud, tmp_path: Path) -> None:
    deploy(fake_gcloud, "all", tmp_path / "build")
    listing = listing_from_deploys(fake_gcloud)
    by_name = {f["name"].rsplit("/", 1)[-1]: f for f in listing}
    by_name["auth"]["state"] = "FAILED"
    by_name["memos"]["state"] = "DEPLOYING"
    del by_name["todos"]["labels"]["sealy-deploy"]  # deployed by hand, without deploy.sh
    fake_gcloud.deployed([f for name, f in by_name.items() if name != "contacts"])
    pending, stderr = plan(fake_gcloud, tmp_path / "build")
    assert pending == ["auth", "todos", "memos", "contacts"]  # functions.json order
    assert "auth: state FAILED" in stderr
    assert "memos: state DEPLOYING" in stderr
    assert "todos: deployed without a digest" in stderr
    assert "contacts: not deployed" in stderr


def test_the_commit_alone_does_not_redeploy(fake_gcloud: FakeGcloud, tmp_path: Path) -> None:
    # deploy.sh also labels sealy-commit=<commit>; a push that changes nothing a function is
    # made of (docs, tests) must not redeploy it, so the commit stays out of the digest.
    deploy(fake_gcloud, "all", tmp_path / "build")
    listing = listing_from_deploys(fake_gcloud)
    for function in listing:
        assert function["labels"]["sealy-commit"]  # this checkout's commit
        function["labels"]["sealy-commit"] = "f" * 40
    fake_gcloud.deployed(listing)
    pending, _ = plan(fake_gcloud, tmp_path / "build")
    assert pending == []


def test_unreadable_state_fails_instead_of_deploying_nothing(
    fake_gcloud: FakeGcloud, tmp_path: Path
) -> None:
    env = fake_gcloud.env(
        **DEPLOY_ENV, SEALY_BUILD_DIR=str(tmp_path / "b"), FAKE_GCLOUD_FAIL="PERMISSION_DENIED"
    )
    result = run_script("python3", SCRIPT, env=env)
    assert result.returncode == 2
    assert "gcloud functions list failed" in result.stderr
    assert "PERMISSION_DENIED" in result.stderr
    assert result.stdout == ""


def test_all_lists_every_function_without_asking_gcloud(
    fake_gcloud: FakeGcloud, functions: dict[str, dict[str, Any]]
) -> None:
    result = run_script("python3", SCRIPT, "--all", env=fake_gcloud.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == "functions=" + json.dumps(list(functions)) + "\n"
    assert fake_gcloud.calls() == []
