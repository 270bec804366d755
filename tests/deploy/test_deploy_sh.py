"""deploy.sh: staging, the exact gcloud commands of --dry-run, and its errors."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.conftest import DEPLOY_ENV, REPO

pytestmark = pytest.mark.deploy

DEPLOY = REPO / "deploy.sh"


def run_deploy(
    *args: str, env: dict[str, str], path: str | None = None
) -> subprocess.CompletedProcess:
    environment = {
        "PATH": path or os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "SEALY_DEPLOY_ENV": "/nonexistent",  # never the developer's own .sealy/deploy.env
        **env,
    }
    return subprocess.run(
        ["bash", str(DEPLOY), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def flags(command: list[str]) -> dict[str, str]:
    return dict(arg[2:].split("=", 1) for arg in command if arg.startswith("--") and "=" in arg)


def key_values(text: str) -> dict[str, str]:
    """gcloud's KEY=V,KEY=V list, also with an alternate delimiter (`^@^K=V@K=V`)."""
    delimiter = ","
    if text.startswith("^"):
        delimiter, text = text[1], text[3:]
    return dict(item.split("=", 1) for item in text.split(delimiter))


@pytest.fixture(scope="module")
def dry_run_all(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    build = tmp_path_factory.mktemp("build")
    result = run_deploy("all", "--dry-run", env={**DEPLOY_ENV, "SEALY_BUILD_DIR": str(build)})
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines() if line.strip()]
    return {"build": build, "commands": commands, "stderr": result.stderr}


def test_one_deploy_command_per_function(
    dry_run_all: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    deploys = [c for c in dry_run_all["commands"] if c[:3] == ["gcloud", "functions", "deploy"]]
    assert sorted(c[3] for c in deploys) == sorted(functions)
    uploads = [c for c in dry_run_all["commands"] if c[:3] == ["gcloud", "storage", "cp"]]
    assert len(uploads) == len(functions)
    assert len(dry_run_all["commands"]) == 2 * len(functions)


def test_deploy_commands_carry_the_listed_settings(
    dry_run_all: dict[str, Any], functions: dict[str, dict[str, Any]], plan: ModuleType
) -> None:
    versions = plan.parse_secret_versions(DEPLOY_ENV["SEALY_SECRET_VERSIONS"])
    project = DEPLOY_ENV["SEALY_PROJECT"]
    for command in dry_run_all["commands"]:
        if command[:3] != ["gcloud", "functions", "deploy"]:
            continue
        name, given = command[3], flags(command)
        fn = functions[name]
        assert "--gen2" in command
        assert "--trigger-http" in command
        assert given["runtime"] == "python312"
        assert given["region"] == DEPLOY_ENV["SEALY_REGION"]
        assert given["project"] == project
        assert given["entry-point"] == fn["entry_point"]
        assert given["service-account"] == f"sealy-fn-{name}@{project}.iam.gserviceaccount.com"
        assert given["ingress-settings"] == "internal-and-gclb"
        assert given["memory"] == fn["memory"]
        assert given["cpu"] == fn["cpu"]
        assert given["timeout"] == f"{fn['timeout_s']}s"
        assert given["min-instances"] == str(fn["min_instances"])
        assert given["max-instances"] == str(fn["max_instances"])
        assert given["concurrency"] == str(fn["concurrency"])
        secrets = key_values(given["set-secrets"])
        assert secrets == {
            s.upper().replace("-", "_"): f"{s}:{versions[s]}" for s in fn["secrets"]
        }, name
        env = key_values(given["set-env-vars"])
        assert env["ENV"] == "prod"
        # Trace ids in the logs need the project: projects/<p>/traces/<id>.
        assert env["GOOGLE_CLOUD_PROJECT"] == project
        assert "CORS_ORIGINS" not in env  # no browser origin unless configured
        labels = key_values(given["update-labels"])
        assert re.fullmatch(r"[0-9a-f]{40}", labels["sealy-deploy"]), labels
        assert env["THREADS"] == str(fn["threads"])
        assert env["DB_POOL_SIZE"] == str(fn["pool_size"])
        assert env["DB_MAX_OVERFLOW"] == str(fn["max_overflow"])
        assert env["DB_USER"] == f"sealy-fn-{name}@{project}.iam"
        assert env["CLOUD_SQL_INSTANCE"] == f"{project}:{DEPLOY_ENV['SEALY_REGION']}:sealy"
        assert ("JWT_SIGNING_KID" in env) == (name == "auth")
        assert not set(env) & set(secrets), "a secret must not also be a plain variable"
    notifications = flags(
        next(
            c
            for c in dry_run_all["commands"]
            if c[:4] == ["gcloud", "functions", "deploy", "notifications"]
        )
    )
    audience = key_values(notifications["set-env-vars"])["DISPATCH_AUDIENCE"]
    assert audience == f"https://{DEPLOY_ENV['SEALY_API_HOST']}/v1/notifications/dispatch"


def test_uploaded_object_is_the_staged_folder_named_by_its_hash(
    dry_run_all: dict[str, Any], functions: dict[str, dict[str, Any]], stage: ModuleType
) -> None:
    build: Path = dry_run_all["build"]
    deploys = {c[3]: flags(c) for c in dry_run_all["commands"] if c[1] == "functions"}
    uploads = [c for c in dry_run_all["commands"] if c[1] == "storage"]
    for name in functions:
        digest = stage.source_hash(build / name)
        assert (build / f"{name}.sha256").read_text().strip() == digest
        source = f"gs://{DEPLOY_ENV['SEALY_PROJECT']}-sealy-sources/{name}/{digest}.zip"
        assert deploys[name]["source"] == source
        assert [str(build / f"{name}.zip"), source] in [u[-2:] for u in uploads]
        assert key_values(deploys[name]["set-env-vars"])["RELEASE"] == digest[:12]


def test_staged_folder_is_self_contained(
    dry_run_all: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    build: Path = dry_run_all["build"]
    for name in functions:
        folder = build / name
        assert (folder / "main.py").read_bytes() == (
            REPO / "functions" / name / "main.py"
        ).read_bytes()
        assert (folder / "common" / "__init__.py").is_file()
        assert not any(p.is_symlink() for p in folder.rglob("*"))
        assert not list(folder.rglob("__pycache__"))
        requirements = (folder / "requirements.txt").read_text()
        assert ("firebase-admin==" in requirements) == (name == "notifications")
        with zipfile.ZipFile(build / f"{name}.zip") as archive:
            names = set(archive.namelist())
        assert names == {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_staging_twice_gives_the_same_hash_and_zip(tmp_path: Path, stage: ModuleType) -> None:
    first = stage.stage("tags", tmp_path / "a")
    second = stage.stage("tags", tmp_path / "b")
    assert first == second
    assert (tmp_path / "a" / "tags.zip").read_bytes() == (tmp_path / "b" / "tags.zip").read_bytes()


def test_unknown_function_fails_with_the_known_names(functions: dict[str, dict[str, Any]]) -> None:
    result = run_deploy("todo", "--dry-run", env=DEPLOY_ENV)
    assert result.returncode == 2
    assert "unknown function 'todo'" in result.stderr
    assert all(name in result.stderr for name in functions)
    assert result.stdout == ""


def test_missing_configuration_is_listed() -> None:
    result = run_deploy("auth", "--dry-run", env={"SEALY_PROJECT": "p"})
    assert result.returncode == 2
    for variable in (
        "SEALY_REGION",
        "SEALY_API_HOST",
        "SEALY_SECRET_VERSIONS",
        "SEALY_JWT_SIGNING_KID",
    ):
        assert variable in result.stderr
    assert "SEALY_PROJECT is not set" not in result.stderr


def test_a_latest_secret_version_is_refused() -> None:
    env = {**DEPLOY_ENV, "SEALY_SECRET_VERSIONS": "jwt-public-keys=latest,cursor-secret=1"}
    result = run_deploy("tags", "--dry-run", env=env)
    assert result.returncode == 2
    assert "never 'latest'" in result.stderr


def test_missing_gcloud_is_a_clear_error(tmp_path: Path) -> None:
    # A PATH with what deploy.sh needs (bash, python3, coreutils) but no gcloud.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "mktemp", "rm", "cat"):
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    result = run_deploy("tags", env=DEPLOY_ENV, path=str(bin_dir))
    assert result.returncode == 2
    assert "gcloud is not installed" in result.stderr
    assert "--dry-run" in result.stderr


def test_usage_without_a_target() -> None:
    result = run_deploy(env={})
    assert result.returncode == 2
    assert "usage: ./deploy.sh <function>|all [--dry-run]" in result.stderr


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
def test_gcloud_accepts_the_commands(dry_run_all: dict[str, Any], tmp_path: Path) -> None:
    """gcloud parses every flag before it asks for credentials: an empty config shows which."""
    picked = [
        c
        for c in dry_run_all["commands"]
        if c[:4]
        in (
            ["gcloud", "functions", "deploy", "auth"],
            ["gcloud", "functions", "deploy", "notifications"],
        )
    ]
    picked.append(next(c for c in dry_run_all["commands"] if c[1] == "storage"))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }
    for command in picked:
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode != 0  # no account, by construction
        assert "unrecognized arguments" not in result.stderr, result.stderr
        assert "Invalid choice" not in result.stderr, result.stderr
        assert "active account" in result.stderr or "credential" in result.stderr.lower(), (
            result.stderr
        )


def test_cors_origins_reach_every_function_exactly(tmp_path: Path) -> None:
    origins = "https://app.example.com,https://admin.example.com:8443"
    env = {**DEPLOY_ENV, "SEALY_BUILD_DIR": str(tmp_path), "SEALY_CORS_ORIGINS": origins}
    result = run_deploy("all", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    deploys = [shlex.split(line) for line in result.stdout.splitlines() if " deploy " in line]
    assert deploys
    for command in deploys:
        assert key_values(flags(command)["set-env-vars"])["CORS_ORIGINS"] == origins


def deployed_envs(env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each function's environment as `deploy.sh all --dry-run` would deploy it."""
    result = run_deploy("all", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    found = {}
    for line in result.stdout.splitlines():
        if " deploy " in line:
            command = shlex.split(line)
            name = command[command.index("deploy") + 1]
            found[name] = key_values(flags(command)["set-env-vars"])
    return found


SIGN_IN = ("GOOGLE_CLIENT_IDS", "APPLE_CLIENT_IDS")
MAIL = ("SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_FROM")


def test_sign_in_and_mail_settings_reach_the_functions_that_use_them(tmp_path: Path) -> None:
    env = {
        **DEPLOY_ENV,
        "SEALY_BUILD_DIR": str(tmp_path),
        "SEALY_GOOGLE_CLIENT_IDS": "a.apps.googleusercontent.com, b.apps.googleusercontent.com",
        "SEALY_APPLE_CLIENT_IDS": "com.example.sealy",
        "SEALY_SMTP_USER": "sealy",
    }
    values = {
        "GOOGLE_CLIENT_IDS": "a.apps.googleusercontent.com,b.apps.googleusercontent.com",
        "APPLE_CLIENT_IDS": "com.example.sealy",
        "SMTP_HOST": "smtp.example.com",
        "SMTP_PORT": "587",
        "SMTP_USER": "sealy",
        "SMTP_FROM": "Sealy <no-reply@example.com>",
    }
    uses = {"auth": SIGN_IN + MAIL, "users": SIGN_IN, "notifications": MAIL}
    envs = deployed_envs(env)
    assert set(uses) <= set(envs)
    for name, deployed in envs.items():
        for key, value in values.items():
            assert deployed.get(key) == (value if key in uses.get(name, ()) else None), (name, key)


def test_a_function_that_mails_needs_a_relay_and_a_sender(tmp_path: Path) -> None:
    env = {**DEPLOY_ENV, "SEALY_BUILD_DIR": str(tmp_path)}
    del env["SEALY_SMTP_HOST"], env["SEALY_SMTP_FROM"]
    result = run_deploy("auth", "--dry-run", env=env)
    assert result.returncode != 0
    assert "SEALY_SMTP_HOST is not set (auth mails codes)" in result.stderr
    assert "SEALY_SMTP_FROM is not set (auth mails codes)" in result.stderr
    assert run_deploy("todos", "--dry-run", env=env).returncode == 0
