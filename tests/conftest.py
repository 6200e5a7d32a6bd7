"""Fixtures shared by the test modules.

The tests use a compile cache of their own, a fresh directory per session, for this process
and every wasirun it starts (they inherit the environment): never the user's
~/.cache/wasirun, and nothing left over from another run or another checkout.  Their
processes kill their compile workers at exit (WASIRUN_FINISH_TIERUP=0).
"""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

_SESSION_CACHE = tempfile.mkdtemp(prefix="wasirun-test-cache-")
os.environ["WASIRUN_CACHE_DIR"] = _SESSION_CACHE     # before anything imports runner
# The runtime's own libraries too (runner/runtime/library.py: by default next to the package).
os.environ["WASIRUN_HOST_CACHE"] = os.path.join(_SESSION_CACHE, "host")
# No tier-up finished in the background after a process exits (tests/test_tierup_finish.py
# turns it on for its own processes and reaps them): nothing outlives the suite.
os.environ["WASIRUN_FINISH_TIERUP"] = "0"

from .wasi_testing import GuestFactory  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


@pytest.fixture(params=["wasirun", "wasmtime"])
def make(request):
    """A factory of guest contexts on wasirun's WASI host and, for comparison, on wasmtime's."""
    if request.param == "wasmtime":
        pytest.importorskip("wasmtime")
    factory = GuestFactory(request.param)
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def fib_g_wasm() -> Path:
    """examples/fib-g.wasm (fib.rs with DWARF; not committed), built by scripts/build-examples.sh."""
    repo = Path(__file__).resolve().parents[1]
    path = repo / "examples" / "fib-g.wasm"
    if not path.exists():
        build = subprocess.run([repo / "scripts" / "build-examples.sh"], capture_output=True, text=True)
        if build.returncode != 0:
            if not os.access("/usr/bin/rustc", os.X_OK):
                pytest.skip(f"cannot install rustc to build fib-g.wasm: {build.stderr.strip()[-300:]}")
            pytest.fail(f"scripts/build-examples.sh failed:\n{build.stderr}")
    return path
