"""The runtime's own libraries (runner/runtime/library.py) are built once per install and
host: a run with an empty module cache maps them instead of compiling them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Make the runtime and the fd_write library, report whether LLVM was loaded for them.
PROBE = """
import sys
from runner.runtime.native import NativeRuntime
from runner.runtime.library import native_library, resolver
from runner.wasi_host import FAST_FD_WRITE_IR, FAST_FD_WRITE_LABEL
NativeRuntime.get()
native_library(FAST_FD_WRITE_IR, FAST_FD_WRITE_LABEL, resolver({"wf.memslot": 8, "wf.fdmap": 16, "wf.slow": 24}))
print("llvm" if "llvmlite" in sys.modules else "no-llvm")
"""


def _run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=dict(os.environ, **env))


def _libraries(cache: Path) -> int:
    return len(list(cache.glob("code-v1/*/lib.img")))


def test_built_once_then_mapped_with_an_empty_module_cache(tmp_path):
    host = tmp_path / "host"
    built = _run({"WASIRUN_HOST_CACHE": str(host), "WASIRUN_CACHE_DIR": str(tmp_path / "c1")},
                 "-m", "runner.runtime.library")
    assert built.returncode == 0, built.stderr
    (build,) = host.iterdir()            # one build (fingerprint) directory
    assert _libraries(build) == 2        # the runtime and fd_write
    fresh = tmp_path / "c2"
    again = _run({"WASIRUN_HOST_CACHE": str(host), "WASIRUN_CACHE_DIR": str(fresh)}, "-c", PROBE)
    assert again.returncode == 0 and again.stdout == "no-llvm\n", again.stderr
    assert _libraries(fresh) == 0


def test_an_unwritable_host_cache_falls_back_to_the_module_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    user = tmp_path / "c"
    env = {"WASIRUN_HOST_CACHE": str(blocker / "host"), "WASIRUN_CACHE_DIR": str(user)}
    first = _run(env, "-c", PROBE)
    assert first.returncode == 0 and first.stdout == "llvm\n", first.stderr
    assert _libraries(user) == 2
    second = _run(env, "-c", PROBE)
    assert second.returncode == 0 and second.stdout == "no-llvm\n", second.stderr


def test_off_uses_only_the_module_cache(tmp_path):
    user = tmp_path / "c"
    done = _run({"WASIRUN_HOST_CACHE": "off", "WASIRUN_CACHE_DIR": str(user)}, "-c", PROBE)
    assert done.returncode == 0 and done.stdout == "llvm\n", done.stderr
    assert _libraries(user) == 2


def test_old_builds_are_pruned(tmp_path):
    host = tmp_path / "host"
    for k in range(6):
        old = host / f"old{k}" / "code-v1" / "x"
        old.mkdir(parents=True)
        (old / "lib.img").write_bytes(b"stale")
        os.utime(host / f"old{k}", (1000 + k, 1000 + k))
    done = _run({"WASIRUN_HOST_CACHE": str(host), "WASIRUN_CACHE_DIR": str(tmp_path / "c")},
                "-m", "runner.runtime.library")
    assert done.returncode == 0, done.stderr
    from runner.runtime.library import HOST_BUILDS_KEPT
    left = {p.name for p in host.iterdir()}
    assert len(left) == HOST_BUILDS_KEPT          # the newest old ones and this build
    assert {f"old{k}" for k in range(7 - HOST_BUILDS_KEPT, 6)} < left
