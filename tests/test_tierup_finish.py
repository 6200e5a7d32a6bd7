"""A tier-up still compiling when its process exits is finished by the worker and cached
(runner/workers.py shutdown, runner/compile_worker.py, runner/tiers.py finish_tierup).

Every process here runs under a helper that is a child subreaper: a worker that outlives
its wasirun is re-parented to the helper, which reaps it, so a test knows when the
background work is over (no timed waits) and that nothing is left running.  Tier-ups are
held at a gate file (WASIRUN_TEST_TIERUP_GATE) until the helper has seen every wasirun
exit: so the tier-up is surely in flight at exit, and an exit that waited for it would
never come (the gate gives up after 120 s, and the test then fails).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_tiers import LOOP, _reference
from .wat import wat2wasm

REPO = Path(__file__).resolve().parents[1]

HELPER = r"""
import ctypes, glob, json, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)      # PR_SET_CHILD_SUBREAPER
gate, cache, cmds = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
outs = [list(p.communicate()) + [p.returncode] for p in procs]   # each exited, its pipes closed
hot = lambda: sorted(os.path.basename(p) for p in glob.glob(f"{cache}/code-v1/*/hot-*.json"))
before = hot()
open(gate, "w").close()
reaped = 0
while True:
    try:
        os.wait()
        reaped += 1
    except ChildProcessError:
        break
print(json.dumps({"outs": outs, "hot_before": before, "hot_after": hot(), "reaped": reaped}))
"""

# $a gets hot, then the host's pause (a tier-up batch is taken 3 ms after its first request),
# then $b: $b's request is still waiting in this process when it exits behind $a's job.
TWO_PHASES = """(module
  (import "env" "pause" (func $pause))
  (func $a (param $x i32) (result i32) (i32.add (i32.mul (local.get $x) (i32.const 3)) (i32.const 1)))
  (func $b (param $x i32) (result i32) (i32.xor (i32.mul (local.get $x) (i32.const 5)) (i32.const 7)))
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $acc (call $a (local.get $acc)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (call $pause)
    (local.set $i (i32.const 0))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $acc (call $b (local.get $acc)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $acc)))"""

TWO_PHASES_RUNNER = r"""
import sys, time
from runner.api import Config, Engine
from runner.linker import Linker
engine = Engine(Config(finish_tierup=sys.argv[2] == "1"))
compiled = engine.compile(open(sys.argv[1], "rb").read(), name="two.wasm")
linker = Linker(engine)
linker.define_func("env", "pause", ([], []), lambda: time.sleep(0.05))
print(linker.instantiate(compiled).exports["run"](3000))
"""


def _two_phases_reference(n: int) -> int:
    acc = 0
    for _ in range(n):
        acc = (acc * 3 + 1) & 0xFFFFFFFF
    for _ in range(n):
        acc = ((acc * 5) & 0xFFFFFFFF) ^ 7
    return acc - (1 << 32) if acc >> 31 else acc


@pytest.fixture
def setup(tmp_path):
    cache = tmp_path / "cache"
    gate = tmp_path / "gate"
    (tmp_path / "loop.wasm").write_bytes(wat2wasm(LOOP))
    env = dict(os.environ, PYTHONPATH=str(REPO), WASIRUN_CACHE_DIR=str(cache), WASIRUN_FINISH_TIERUP="1",
               WASIRUN_TEST_TIERUP_GATE=str(gate), WASIRUN_TIERUP_LOG=str(tmp_path / "tierup.log"))
    return tmp_path, cache, gate, env


def _helper(tmp_path, cache, gate, env, cmds) -> dict:
    if gate.exists():
        gate.unlink()
    r = subprocess.run([sys.executable, "-c", HELPER, str(gate), str(cache), json.dumps(cmds)], capture_output=True,
                       text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _wasirun(*args) -> list[str]:
    return [sys.executable, "-m", "runner.cli", *args]


def _log(tmp_path) -> list[tuple[int, int]]:
    """(functions asked for, functions compiled) per tier-up job, from WASIRUN_TIERUP_LOG."""
    path = tmp_path / "tierup.log"
    lines = path.read_text().split("\n") if path.exists() else []
    return [(int(w[3]), int(w[5])) for w in (ln.split() for ln in lines) if w]


def test_tier_up_in_flight_at_exit_is_finished_and_the_next_run_starts_on_it(setup):
    tmp_path, cache, gate, env = setup
    out = _helper(tmp_path, cache, gate, env, [_wasirun("--invoke", "run", "loop.wasm", "3000")])
    (stdout, stderr, rc), = out["outs"]
    assert rc == 0 and stdout == f"{_reference(3000)}\n", stderr
    assert out["hot_before"] == []          # wasirun exited while its tier-up was held at the gate
    assert out["reaped"] >= 1               # the worker outlived it, and was done when reaped
    assert out["hot_after"], "the finished tier-up was not stored"
    assert sum(c for _, c in _log(tmp_path)) >= 1

    # The next run maps the stored top tier: no function asks for tier-up, no worker starts.
    again = _helper(tmp_path, cache, gate, env, [_wasirun("--invoke", "run", "loop.wasm", "3000")])
    (stdout, stderr, rc), = again["outs"]
    assert rc == 0 and stdout == f"{_reference(3000)}\n", stderr
    assert again["reaped"] == 0             # no process was started (a killed worker is reaped here too)
    assert again["hot_after"] == out["hot_after"]


def test_a_request_still_waiting_at_exit_is_handed_to_the_worker(setup):
    tmp_path, cache, gate, env = setup
    (tmp_path / "two.wasm").write_bytes(wat2wasm(TWO_PHASES))
    (tmp_path / "two_phases.py").write_text(TWO_PHASES_RUNNER)
    out = _helper(tmp_path, cache, gate, env, [[sys.executable, "two_phases.py", "two.wasm", "1"]])
    (stdout, stderr, rc), = out["outs"]
    assert rc == 0 and stdout == f"{_two_phases_reference(3000)}\n", stderr
    assert out["hot_before"] == []
    stored = set()
    for p in cache.glob("code-v1/*/hot-*.json"):
        stored |= set(json.loads(p.read_text())["functions"])
    assert {1, 2} <= stored, out      # $a (index 1) and $b (index 2), the import being 0


def test_two_runs_at_once_compile_each_hot_function_once(setup):
    tmp_path, cache, gate, env = setup
    # A cache holding only the first tier (tier-up not finished: WASIRUN_FINISH_TIERUP=0).
    _helper(tmp_path, cache, gate, dict(env, WASIRUN_FINISH_TIERUP="0"), [_wasirun("--invoke", "run", "loop.wasm", "10")])
    assert not list(cache.glob("code-v1/*/hot-*.json"))
    (tmp_path / "tierup.log").unlink(missing_ok=True)
    run = _wasirun("--invoke", "run", "loop.wasm", "3000")
    out = _helper(tmp_path, cache, gate, env, [run, run])
    for stdout, stderr, rc in out["outs"]:
        assert rc == 0 and stdout == f"{_reference(3000)}\n", stderr
    assert out["hot_before"] == []
    stored = set()
    for p in cache.glob("code-v1/*/hot-*.json"):
        stored |= set(json.loads(p.read_text())["functions"])
    jobs = _log(tmp_path)
    assert len(jobs) >= 2 and stored                      # both runs asked ...
    assert sum(c for _, c in jobs) == len(stored), jobs   # ... and no function was compiled twice


@pytest.mark.parametrize("how", ["env", "config"])
def test_the_switch_turns_it_off(setup, how):
    tmp_path, cache, gate, env = setup
    if how == "env":
        out = _helper(tmp_path, cache, gate, dict(env, WASIRUN_FINISH_TIERUP="0"),
                      [_wasirun("--invoke", "run", "loop.wasm", "3000")])
    else:
        (tmp_path / "two.wasm").write_bytes(wat2wasm(TWO_PHASES))
        (tmp_path / "two_phases.py").write_text(TWO_PHASES_RUNNER)
        out = _helper(tmp_path, cache, gate, env, [[sys.executable, "two_phases.py", "two.wasm", "0"]])
    (stdout, stderr, rc), = out["outs"]
    assert rc == 0, stderr
    assert out["reaped"] >= 1               # the worker was killed (and its zombie reaped here)
    assert out["hot_after"] == []           # nothing compiled after the exit
    assert _log(tmp_path) == []



def test_the_key_lock_is_exclusive(tmp_path):
    from runner.codecache import CodeCache
    cache = CodeCache(tmp_path)
    key = "k" * 64
    with cache.locked(key, 0) as mine:
        assert mine is True
        with cache.locked(key, 0) as other:               # another open file: an flock conflicts
            assert other is False
    with cache.locked(key, 0) as again:
        assert again is True


def test_a_claim_is_seen_while_its_holder_lives(tmp_path):
    from runner.codecache import CodeCache
    cache = CodeCache(tmp_path)
    key = "k" * 64
    assert cache.claims(key) == set() and not cache.busy(key)    # no entry yet
    os.makedirs(cache.entry(key))
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from pathlib import Path\n"
                               "from runner.codecache import CodeCache\n"
                               "c = CodeCache(Path(sys.argv[1]))\n"
                               "with c.locked(sys.argv[2], 5):\n"
                               "    claim = c.claim(sys.argv[2], [3, 5, 8])\n"
                               "print('claimed', flush=True); time.sleep(600)\n", str(tmp_path), key],
                              stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert holder.stdout.readline() == "claimed\n"
        assert cache.claims(key) == {3, 5, 8} and cache.busy(key)
        mine = cache.claim(key, [9])
        assert cache.claims(key) == {3, 5, 8, 9}
        mine.release()
        assert cache.claims(key) == {3, 5, 8}
    finally:
        holder.kill()
        holder.wait()
    assert cache.claims(key) == set()                     # its flock died with it: stale, deleted
    assert not [n for n in os.listdir(cache.entry(key)) if n.startswith(".claim")]


def test_temporaries_of_a_killed_writer_are_swept(tmp_path):
    from runner.codecache import CodeCache
    cache = CodeCache(tmp_path)
    key = "k" * 64
    d = Path(cache.entry(key))
    d.mkdir(parents=True)
    old, fresh, unit = d / ".hot-1.img.9.1.tmp", d / ".hot-2.img.9.2.tmp", d / "hot-3.img"
    for p in (old, fresh, unit):
        p.write_bytes(b"x")
    os.utime(old, (1, 1))
    os.utime(unit, (1, 1))
    cache.sweep_temporaries(key)
    assert not old.exists() and fresh.exists() and unit.exists()
