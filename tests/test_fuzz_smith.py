"""The differential fuzzer against wasmtime (scripts/fuzz-smith.py): its regression cases
and a short run of fresh wasm-smith modules, at the first tier (-O0) and the top tier (-O2).

Each tests/fuzz_regressions/*.wat names its calls in ``;; call NAME ARG...`` lines; results,
trap kinds and the exported globals and memory after every call must match wasmtime's.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REGRESSIONS = sorted((REPO / "tests" / "fuzz_regressions").glob("*.wat"))
CI_CASES = int(os.environ.get("WASIRUN_FUZZ_SMITH_CASES", "150"))   # per opt level (~40 s for both here)


def _fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_smith", REPO / "scripts" / "fuzz-smith.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_smith"] = mod
    spec.loader.exec_module(mod)
    return mod


def _need_tools():
    pytest.importorskip("wasmtime")
    if shutil.which("wasm-tools") is None:
        pytest.fail("wasm-tools is not installed")


@pytest.fixture(scope="module")
def fz():
    _need_tools()
    return _fuzzer()


@pytest.fixture(scope="module")
def engines(fz):
    return fz.Wasmtime(), {opt: fz.Wasirun(opt, "top") for opt in (0, 2)}


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.stem)
@pytest.mark.parametrize("opt", (0, 2))
def test_regression(fz, engines, path, opt):
    text = path.read_text()
    calls = fz.calls_in_wat(text)
    assert calls, f"{path.name} names no calls"
    data = subprocess.run(["wasm-tools", "parse", str(path), "-o", "/dev/stdout"], capture_output=True,
                          check=True).stdout
    wasmtime, ours = engines
    diff, compared = fz.run_module(data, 0, wasmtime, ours[opt], calls)
    assert diff is None, f"{path.name} at -O{opt}: {diff}"
    assert compared == len(calls)


def test_the_regressions_trap():
    """The regression calls are the interesting ones: most of them trap under wasmtime."""
    _need_tools()
    fz = _fuzzer()
    traps = 0
    total = 0
    for path in REGRESSIONS:
        data = subprocess.run(["wasm-tools", "parse", str(path), "-o", "/dev/stdout"], capture_output=True,
                              check=True).stdout
        calls = fz.calls_in_wat(path.read_text())
        outcomes, _ = fz.Wasmtime().run(data, fz.shape_of(data), calls)
        traps += sum(o.result == "trap memory" for o in outcomes)
        total += len(calls)
    assert traps * 2 > total, (traps, total)


def test_fresh_smith_modules():
    """A short run of new cases at -O0 and -O2: no difference from wasmtime."""
    _need_tools()
    fz = _fuzzer()
    for opt in (0, 2):
        stats = fz.drive(0, CI_CASES, opt, "top", 120.0, None)
        assert stats["cases"] == CI_CASES
        assert stats["differences"] == 0, stats
        assert stats["calls"] > CI_CASES, stats


def test_trap_wording_matches_wasmtime(fz):
    """str(Trap) -- the CLI's line -- says what wasmtime says, for every trap kind."""
    import wasmtime as wt
    from runner.api import Config, Engine
    from runner.errors import Trap
    path = REPO / "tests" / "fuzz_regressions" / "trap_kinds.wat"
    data = subprocess.run(["wasm-tools", "parse", str(path), "-o", "/dev/stdout"], capture_output=True,
                          check=True).stdout
    engine = wt.Engine()
    store = wt.Store(engine)
    theirs = wt.Instance(store, wt.Module(engine, data), []).exports(store)
    ours = Engine(Config(cache=False, opt_level=0)).instantiate(Engine(Config(cache=False, opt_level=0)).compile(data), {})
    for call in fz.calls_in_wat(path.read_text()) + [fz.Call("stack", ())]:
        with pytest.raises(wt.Trap) as their_trap:
            theirs[call.export](store)
        with pytest.raises(Trap) as our_trap:
            ours.exports[call.export].call_raw([])
        wording = [line.strip() for line in str(their_trap.value).splitlines() if "wasm trap:" in line][0]
        assert wording.endswith(str(our_trap.value)), (call.export, wording, str(our_trap.value))
