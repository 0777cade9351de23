"""Running the npm side of the interop tests: ``node`` itself, the packages ``npm ci`` installed from
the lock file at the repository root, ``rp.mjs`` one step at a time, and ``op.mjs`` as a server.

Nothing here skips: a missing ``node`` or ``node_modules`` is a test failure that says what to run.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PACKAGES = ("openid-client", "oidc-provider")
STEP_TIMEOUT = 60.0  # a step that polls (device_poll) bounds itself below this


def node_binary() -> str:
    """The ``node`` executable with the packages of ``package-lock.json`` installed, or a failure."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("interop tests need Node.js (>= 20.19) on PATH: `node` not found", pytrace=False)
    missing = [p for p in PACKAGES if not (ROOT / "node_modules" / p / "package.json").is_file()]
    if missing:
        pytest.fail(
            f"npm packages {', '.join(missing)} are not installed: run `npm ci` in {ROOT} "
            "(`make test` does it)",
            pytrace=False,
        )
    return node


class RPError(AssertionError):
    """``openid-client`` refused something; ``error`` is what it said (name, message, code...)."""

    def __init__(self, step: str, error: dict[str, Any]) -> None:
        super().__init__(f"openid-client {step}: {json.dumps(error)}")
        self.step = step
        self.error = error


async def rp(step: str, **args: Any) -> dict[str, Any]:
    """Run one step of ``rp.mjs`` and return its JSON answer; raise :class:`RPError` on its error."""
    process = await asyncio.create_subprocess_exec(
        node_binary(),
        str(HERE / "rp.mjs"),
        step,
        json.dumps(args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), STEP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"rp.mjs {step} did not finish within {STEP_TIMEOUT}s") from None
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    out = stdout.decode(errors="replace").strip()
    try:
        answer = json.loads(out.splitlines()[-1]) if out else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise AssertionError(
            f"rp.mjs {step} exited {process.returncode} without JSON:\n{out}\n{stderr.decode()}"
        )
    if "error" in answer:
        raise RPError(step, answer["error"])
    assert process.returncode == 0, stderr.decode()
    return answer
