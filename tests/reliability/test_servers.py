"""The helper that runs functions in their own process (tests/servers.py) reports why one
did not start: a test that needs a real server fails with the child's own words."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.servers import function_process

pytestmark = pytest.mark.api


def test_a_function_that_exits_at_start_is_reported_with_its_stderr(tmp_path: Path) -> None:
    marker = f"cannot start: {secrets.token_hex(6)}"
    source = tmp_path / "main.py"
    source.write_text(f"raise RuntimeError({marker!r})\n")  # fails as its module is imported
    with (
        pytest.raises(RuntimeError) as raised,
        function_process(source, "auth", {}, wait_path="/v1/auth/health"),
    ):
        pytest.fail("the function answered")
    message = str(raised.value)
    assert message.startswith("auth exited with status ")
    assert marker in message  # functions-framework's traceback, from the child's stderr
    assert "Traceback" in message
