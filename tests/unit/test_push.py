"""Push: firebase_admin stays out of every cold start; message targets; the retry schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.db.notifications import MAX_ATTEMPTS, RETRY_CAP, retry_delay
from common.push import _target

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("main", "functions/{function}/main.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
loaded = {{name: name in sys.modules for name in ("firebase_admin", "google.oauth2.id_token")}}
if {touch_push}:
    from common import push
    push._is_dead_token(Exception())
    loaded["after_push"] = "firebase_admin" in sys.modules
print(json.dumps(loaded))
"""


def modules_after_import(function: str, *, touch_push: bool = False) -> dict[str, bool]:
    """Import functions/<function>/main.py in a fresh interpreter; which modules got loaded."""
    code = _PROBE.format(function=function, touch_push=touch_push)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("function", ["todos", "tags", "auth"])
def test_other_functions_never_load_firebase(function: str) -> None:
    assert modules_after_import(function) == {
        "firebase_admin": False,
        "google.oauth2.id_token": False,
    }


def test_notifications_loads_firebase_only_when_it_sends() -> None:
    assert modules_after_import("notifications", touch_push=True) == {
        "firebase_admin": False,
        "google.oauth2.id_token": False,
        "after_push": True,
    }


def test_installation_ids_go_as_fid_and_registration_tokens_as_token() -> None:
    fid = "cR_3tN0aQ0KyWd1xV9pLmZ"
    assert _target(fid) == {"fid": fid}
    registration = f"{fid}:APA91bH4kq0V_some-long-token"
    assert _target(registration) == {"token": registration}
    assert _target(fid + "x") == {"token": fid + "x"}


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    delays = [retry_delay(n).total_seconds() for n in range(1, MAX_ATTEMPTS + 3)]
    assert delays[:5] == [60, 120, 240, 480, 960]
    assert retry_delay(30) == RETRY_CAP
    assert delays == sorted(delays)
