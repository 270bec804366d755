"""The gcloud commands that deploy one staged function, built from functions.json.

    python3 scripts/deploy_plan.py check NAME|all     # is the deploy configuration complete?
    python3 scripts/deploy_plan.py commands NAME HASH  # NUL-separated argv, "" ends a command
    python3 scripts/deploy_plan.py show NAME HASH      # the same, one shell-quoted line each

deploy.sh is the only caller. Terraform (infra/functions.tf) renders the same
functions.json templates, so a function deployed by either has the same settings.

Configuration comes from the environment (deploy.sh also reads `.sealy/deploy.env`,
which `terraform output -raw deploy_env` writes):

    SEALY_PROJECT           Google Cloud project id
    SEALY_REGION            region of the functions, e.g. europe-west1
    SEALY_API_HOST          public API host, e.g. api.example.com
    SEALY_SECRET_VERSIONS   pinned versions, e.g. jwt-signing-key=3,jwt-public-keys=3,...
    SEALY_JWT_SIGNING_KID   key id of the current signing key (functions that sign tokens)
    SEALY_FIREBASE_PROJECT  optional; Firebase project for push (default: SEALY_PROJECT)
    SEALY_CORS_ORIGINS      optional; browser origins allowed (CORS_ORIGINS), comma-separated
    SEALY_GOOGLE_CLIENT_IDS optional; Sign in with Google's client ids, comma-separated
    SEALY_APPLE_CLIENT_IDS  optional; Sign in with Apple's client ids (bundle id, Services ID)
    SEALY_SMTP_HOST         the mail relay (functions that mail codes: required)
    SEALY_SMTP_PORT         optional; its port (default 587, STARTTLS)
    SEALY_SMTP_USER         optional; the relay's user name (SMTP_PASSWORD is a secret)
    SEALY_SMTP_FROM         the sender, e.g. "Sealy <no-reply@example.com>" (required with it)

Every deploy labels the function `sealy-deploy=<digest>`: a digest of the deploy command
(settings, environment, secrets and the source object, which is named by the staged
source's hash), and `sealy-commit=<commit>` for people. scripts/changed_functions.py
compares the digest with what is deployed to decide which functions to deploy.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import string
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: scripts.*

from scripts import stage_function
from scripts.stage_function import REPO, StageError

REQUIRED = ("SEALY_PROJECT", "SEALY_REGION", "SEALY_API_HOST", "SEALY_SECRET_VERSIONS")
DIGEST_LABEL = "sealy-deploy"
COMMIT_LABEL = "sealy-commit"


@dataclass(frozen=True)
class DeployConfig:
    project: str
    region: str
    api_host: str
    secret_versions: dict[str, str]
    jwt_signing_kid: str | None
    firebase_project: str
    cors_origins: str = ""
    google_client_ids: str = ""
    apple_client_ids: str = ""
    smtp_host: str = ""
    smtp_port: str = "587"
    smtp_user: str = ""
    smtp_from: str = ""


def secret_env_name(secret: str) -> str:
    """jwt-signing-key -> JWT_SIGNING_KEY (the variable common.config reads)."""
    return secret.upper().replace("-", "_")


def parse_secret_versions(text: str) -> dict[str, str]:
    versions: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, version = item.partition("=")
        if not sep or not version.isdigit():
            raise StageError(
                f"SEALY_SECRET_VERSIONS: {item!r} must be secret=<version number> "
                "(pinned: never 'latest')"
            )
        versions[name.strip()] = version
    return versions


def read_config(names: list[str], env: Mapping[str, str], cfg: dict[str, Any]) -> DeployConfig:
    """Check that everything the named functions need is configured; list every gap."""
    problems = [f"{var} is not set" for var in REQUIRED if not env.get(var)]
    versions = parse_secret_versions(env.get("SEALY_SECRET_VERSIONS", ""))
    functions = {fn["name"]: fn for fn in cfg["functions"]}
    for name in names:
        for secret in functions[name]["secrets"]:
            if secret not in versions and env.get("SEALY_SECRET_VERSIONS"):
                problems.append(f"SEALY_SECRET_VERSIONS has no version for {secret!r} ({name})")
        templates = " ".join(functions[name].get("env", {}).values())
        if "${jwt_signing_kid}" in templates and not env.get("SEALY_JWT_SIGNING_KID"):
            problems.append(f"SEALY_JWT_SIGNING_KID is not set ({name} signs tokens)")
        for placeholder, var in (
            ("smtp_host", "SEALY_SMTP_HOST"),
            ("smtp_from", "SEALY_SMTP_FROM"),
        ):
            if f"${{{placeholder}}}" in templates and not env.get(var):
                problems.append(f"{var} is not set ({name} mails codes)")
    if problems:
        raise StageError(
            "deploy configuration incomplete:\n  - "
            + "\n  - ".join(dict.fromkeys(problems))
            + "\n(set them in the environment or in .sealy/deploy.env: docs/deployment.md)"
        )
    project = env["SEALY_PROJECT"]
    return DeployConfig(
        project=project,
        region=env["SEALY_REGION"],
        api_host=env["SEALY_API_HOST"],
        secret_versions=versions,
        jwt_signing_kid=env.get("SEALY_JWT_SIGNING_KID") or None,
        firebase_project=env.get("SEALY_FIREBASE_PROJECT") or project,
        cors_origins=_listed(env.get("SEALY_CORS_ORIGINS", "")),
        google_client_ids=_listed(env.get("SEALY_GOOGLE_CLIENT_IDS", "")),
        apple_client_ids=_listed(env.get("SEALY_APPLE_CLIENT_IDS", "")),
        smtp_host=env.get("SEALY_SMTP_HOST", ""),
        smtp_port=env.get("SEALY_SMTP_PORT") or "587",
        smtp_user=env.get("SEALY_SMTP_USER", ""),
        smtp_from=env.get("SEALY_SMTP_FROM", ""),
    )


def _listed(text: str) -> str:
    """A comma-separated list, its entries trimmed and the empty ones dropped."""
    return ",".join(part.strip() for part in text.split(",") if part.strip())


def render(template: str, variables: Mapping[str, object]) -> str:
    """`${name}` substitution, the subset of Terraform's templatestring() that both share."""
    try:
        return string.Template(template).substitute({k: str(v) for k, v in variables.items()})
    except KeyError as exc:
        raise StageError(f"functions.json: unknown placeholder {exc} in {template!r}") from exc


def names_for(cfg: dict[str, Any], project: str, function: str = "") -> dict[str, str]:
    return {
        key: render(value, {"project": project, "function": function})
        for key, value in cfg["deploy"]["names"].items()
    }


def sa_email(account_id: str, project: str) -> str:
    return f"{account_id}@{project}.iam.gserviceaccount.com"


def template_variables(
    cfg: dict[str, Any], fn: dict[str, Any], conf: DeployConfig, source_hash: str
) -> dict[str, object]:
    """What ${name} can stand for in functions.json (infra/functions.tf passes the same)."""
    names = names_for(cfg, conf.project, fn["name"])
    return {
        "project": conf.project,
        "region": conf.region,
        "function": fn["name"],
        "release": source_hash[:12],
        "threads": fn["threads"],
        "pool_size": fn["pool_size"],
        "max_overflow": fn["max_overflow"],
        "sql_instance": f"{conf.project}:{conf.region}:{names['sql_instance']}",
        "db_name": names["database"],
        # Cloud SQL IAM user of a service account: its email without ".gserviceaccount.com".
        "db_user": f"{names['function_service_account']}@{conf.project}.iam",
        "api_host": conf.api_host,
        "jwt_signing_kid": conf.jwt_signing_kid or "",
        "scheduler_service_account": sa_email(names["scheduler_service_account"], conf.project),
        "firebase_project": conf.firebase_project,
        "cors_origins": conf.cors_origins,
        "google_client_ids": conf.google_client_ids,
        "apple_client_ids": conf.apple_client_ids,
        "smtp_host": conf.smtp_host,
        "smtp_port": conf.smtp_port,
        "smtp_user": conf.smtp_user,
        "smtp_from": conf.smtp_from,
    }


def function_env(
    cfg: dict[str, Any], fn: dict[str, Any], conf: DeployConfig, source_hash: str
) -> dict[str, str]:
    """The environment a function runs with (secrets excluded), as Terraform renders it:
    a variable whose value renders empty is left out."""
    variables = template_variables(cfg, fn, conf, source_hash)
    merged = {**cfg["deploy"]["env"], **fn.get("env", {})}
    rendered = {key: render(value, variables) for key, value in merged.items()}
    return {key: value for key, value in rendered.items() if value}


def _key_values(pairs: Mapping[str, str]) -> str:
    """KEY=V,KEY=V for gcloud; switches the delimiter (gcloud topic escaping) if a value has ','."""
    joined = [f"{k}={v}" for k, v in pairs.items()]
    if not any("," in item for item in joined):
        return ",".join(joined)
    for delimiter in "@|;#~":
        if not any(delimiter in item for item in joined):
            return f"^{delimiter}^" + delimiter.join(joined)
    raise StageError("cannot pick a delimiter for gcloud key=value list")


def git_commit(root: Path = REPO) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out if re.fullmatch(r"[0-9a-f]{40}", out) else None


def source_object(
    cfg: dict[str, Any], fn: dict[str, Any], conf: DeployConfig, source_hash: str
) -> str:
    bucket = names_for(cfg, conf.project)["source_bucket"]
    return f"gs://{bucket}/{fn['name']}/{source_hash}.zip"


def upload_command(
    cfg: dict[str, Any], fn: dict[str, Any], conf: DeployConfig, source_hash: str, build_dir: Path
) -> list[str]:
    # --no-clobber: an object named by its content hash never needs replacing.
    return [
        "gcloud",
        "storage",
        "cp",
        "--no-clobber",
        f"--project={conf.project}",
        str(build_dir / f"{fn['name']}.zip"),
        source_object(cfg, fn, conf, source_hash),
    ]


def deploy_digest(
    cfg: dict[str, Any], fn: dict[str, Any], conf: DeployConfig, source_hash: str
) -> str:
    """What a deploy sets, in 40 hex digits (a label value holds at most 63 characters)."""
    settings = _settings(cfg, fn, conf, source_hash)
    return hashlib.sha256("\0".join(settings).encode()).hexdigest()[:40]


def deploy_command(
    cfg: dict[str, Any],
    fn: dict[str, Any],
    conf: DeployConfig,
    source_hash: str,
    commit: str | None = None,
) -> list[str]:
    command = _settings(cfg, fn, conf, source_hash)
    labels = {DIGEST_LABEL: deploy_digest(cfg, fn, conf, source_hash)}
    if commit:
        labels[COMMIT_LABEL] = commit
    command.append(f"--update-labels={_key_values(labels)}")
    # Invocation rights (allUsers behind ingress internal-and-gclb) are Terraform's:
    # without --[no-]allow-unauthenticated gcloud leaves them as they are.
    command.append("--quiet")
    return command


def _settings(
    cfg: dict[str, Any], fn: dict[str, Any], conf: DeployConfig, source_hash: str
) -> list[str]:
    """`gcloud functions deploy` with everything it sets but the labels."""
    names = names_for(cfg, conf.project, fn["name"])
    secrets = {secret_env_name(s): f"{s}:{conf.secret_versions[s]}" for s in sorted(fn["secrets"])}
    command = [
        "gcloud",
        "functions",
        "deploy",
        fn["name"],
        "--gen2",
        f"--project={conf.project}",
        f"--region={conf.region}",
        f"--runtime={cfg['deploy']['runtime']}",
        "--trigger-http",
        f"--source={source_object(cfg, fn, conf, source_hash)}",
        f"--entry-point={fn['entry_point']}",
        f"--service-account={sa_email(names['function_service_account'], conf.project)}",
        "--build-service-account=projects/"
        f"{conf.project}/serviceAccounts/{sa_email(names['build_service_account'], conf.project)}",
        f"--memory={fn['memory']}",
        f"--cpu={fn['cpu']}",
        f"--timeout={fn['timeout_s']}s",
        f"--min-instances={fn['min_instances']}",
        f"--max-instances={fn['max_instances']}",
        f"--concurrency={fn['concurrency']}",
        "--ingress-settings=internal-and-gclb",
        f"--vpc-connector=projects/{conf.project}/locations/{conf.region}/connectors/"
        f"{names['vpc_connector']}",
        "--egress-settings=private-ranges-only",
        f"--set-env-vars={_key_values(function_env(cfg, fn, conf, source_hash))}",
    ]
    if secrets:
        command.append(f"--set-secrets={_key_values(secrets)}")
    return command


def main(argv: list[str]) -> int:
    try:
        cfg = stage_function.load_functions()
        if len(argv) == 2 and argv[0] == "check":
            read_config(stage_function.resolve_targets(argv[1]), os.environ, cfg)
            return 0
        if len(argv) == 3 and argv[0] in ("commands", "show"):
            name, source_hash = argv[1], argv[2]
            [name] = stage_function.resolve_targets(name)
            fn = next(f for f in cfg["functions"] if f["name"] == name)
            conf = read_config([name], os.environ, cfg)
            build_dir = Path(os.environ.get("SEALY_BUILD_DIR") or REPO / "build")
            commands = [
                upload_command(cfg, fn, conf, source_hash, build_dir),
                deploy_command(cfg, fn, conf, source_hash, git_commit()),
            ]
            if argv[0] == "show":
                print("\n".join(shlex.join(command) for command in commands))
                return 0
            out = sys.stdout.buffer
            for command in commands:
                out.write(b"".join(arg.encode() + b"\0" for arg in command) + b"\0")
            return 0
    except StageError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
