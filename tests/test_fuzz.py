"""Mutation fuzzing: broken modules must be rejected cleanly, never crash or leak an exception.

A few thousand deterministic mutations of the spec testsuite's modules (bit flips,
byte insertions/deletions, truncations, overlong LEB128 encodings, whole sections
dropped or duplicated), applied both to the raw file and inside one section or one
function body with the enclosing sizes fixed up, so the mutations reach the
validator, the translator and instantiation, not only the section framing.

Every case must end in one of:
* ``DecodeError`` / ``ValidationError`` from ``Engine.compile``;
* ``LinkError`` from ``Engine.instantiate`` (imports come from a ``spectest`` host module);
* a ``Trap`` from instantiation (an out-of-bounds segment);
* an instance whose exports match the module's export section.
Modules with a start function are compiled but not instantiated (the start code may
loop forever).  The loop runs in worker subprocesses, so a crash (SIGSEGV, LLVM
abort) is reported with the case that caused it; rerun one case with
``python tests/test_fuzz.py --case N``.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SEED = 0x5EED_2025
CASES = int(os.environ.get("WASIRUN_FUZZ_CASES", "5000"))
WORKERS = 2
CASE_TIMEOUT = 300.0      # seconds for a whole worker


def spectest_root() -> Path:
    env = os.environ.get("WASIRUN_SPECTEST")
    return Path(env) if env else REPO.parent / "shared" / "spectest"


def seed_modules(root: Path | None = None) -> list[Path]:
    """The binary modules of the core suite's `module` commands, in a fixed order."""
    out = []
    root = root or spectest_root()
    for js in sorted(root.glob("*/*.json")):
        for cmd in json.loads(js.read_text())["commands"]:
            if cmd["type"] == "module":
                out.append(js.parent / cmd["filename"])
    return out


# --- mutations ---------------------------------------------------------------------------------

def _uleb(n: int, pad_to: int = 0) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n or len(out) + 1 < pad_to:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 35:
            raise ValueError("bad leb")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def _sections(data: bytes) -> list[tuple[int, bytes]] | None:
    pos, out = 8, []
    try:
        while pos < len(data):
            sid = data[pos]
            size, pos = _read_uleb(data, pos + 1)
            if pos + size > len(data):
                return None
            out.append((sid, data[pos:pos + size]))
            pos += size
    except ValueError:
        return None
    return out


def _join(sections: list[tuple[int, bytes]], pad: int = 0) -> bytes:
    return b"\0asm\1\0\0\0" + b"".join(bytes([sid]) + _uleb(len(p), pad) + p for sid, p in sections)


def _mutate_bytes(rng: random.Random, data: bytes, lo: int = 0) -> tuple[bytes, str]:
    """One small edit of ``data[lo:]``."""
    b = bytearray(data)
    if len(b) <= lo:
        return bytes(b) + bytes([rng.randrange(256)]), "append"
    pos = rng.randrange(lo, len(b))
    kind = rng.choice(("flip", "flip", "flip", "set", "insert", "delete", "leb", "truncate"))
    if kind == "flip":
        bit = rng.randrange(8)
        b[pos] ^= 1 << bit
        return bytes(b), f"flip bit {bit} at {pos}"
    if kind == "set":
        v = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, 0x40, 0x0B, 0x41, rng.randrange(256)))
        b[pos] = v
        return bytes(b), f"set {pos} to {v:#x}"
    if kind == "insert":
        v = rng.randrange(256)
        b.insert(pos, v)
        return bytes(b), f"insert {v:#x} at {pos}"
    if kind == "delete":
        del b[pos]
        return bytes(b), f"delete {pos}"
    if kind == "leb":
        # An overlong LEB128: the byte gets a continuation bit and a 0x00 (or 0x80 0x00) follows.
        extra = rng.choice((b"\x00", b"\x80\x00", b"\x80\x80\x80\x80\x00"))
        b[pos] |= 0x80
        b[pos + 1:pos + 1] = extra
        return bytes(b), f"leb-extend {pos} by {len(extra)}"
    return bytes(b[:pos]), f"truncate at {pos}"


def _mutate_body(rng: random.Random, payload: bytes) -> tuple[bytes, str] | None:
    """Mutate one function body of a code section payload, fixing its size and keeping the rest."""
    try:
        n, pos = _read_uleb(payload, 0)
        bodies = []
        for _ in range(n):
            size, pos = _read_uleb(payload, pos)
            bodies.append(payload[pos:pos + size])
            pos += size
    except ValueError:
        return None
    if not bodies or pos != len(payload):
        return None
    k = rng.randrange(len(bodies))
    body, what = _mutate_bytes(rng, bodies[k])
    bodies[k] = body
    return _uleb(n) + b"".join(_uleb(len(x)) + x for x in bodies), f"body {k}: {what}"


def mutate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    sections = _sections(data)
    mode = rng.random()
    if not sections or mode < 0.25:
        return _mutate_bytes(rng, data, 0 if rng.random() < 0.05 else 8)
    if mode < 0.35 and len(sections) > 1:
        k = rng.randrange(len(sections))
        if rng.random() < 0.5:
            return _join(sections[:k] + sections[k + 1:]), f"drop section {k}"
        return _join(sections[:k + 1] + sections[k:]), f"duplicate section {k}"
    if mode < 0.40:
        return _join(sections, pad=rng.choice((2, 5))), "pad section sizes"
    k = rng.randrange(len(sections))
    sid, payload = sections[k]
    if sid == 10 and rng.random() < 0.7:
        m = _mutate_body(rng, payload)
        if m is not None:
            payload, what = m
            sections[k] = (sid, payload)
            return _join(sections), f"section {k} (id {sid}) {what}"
    payload, what = _mutate_bytes(rng, payload)
    sections[k] = (sid, payload)
    return _join(sections), f"section {k} (id {sid}): {what}"


def make_case(i: int, seeds: list[Path]) -> tuple[bytes, str]:
    rng = random.Random(SEED * 1_000_003 + i)
    src = seeds[rng.randrange(len(seeds))]
    data = src.read_bytes()
    desc = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data, what = mutate(rng, data)
        desc.append(what)
    return data, f"{src.parent.name}/{src.name}: " + "; ".join(desc)


# --- the worker ----------------------------------------------------------------------------------

def _spectest_imports():
    if str(REPO / "scripts") not in sys.path:
        sys.path.insert(0, str(REPO / "scripts"))
    from spectest_harness.spectest_host import spectest_exports
    return spectest_exports()


def run_case(engine, imports, data: bytes) -> str:
    """Compile and (maybe) instantiate; returns the outcome; raises AssertionError on a bad one."""
    from runner.errors import DecodeError, LinkError, Trap, TrapKind, ValidationError
    from runner.runtime.instance import Function
    from runner.runtime.store import GlobalCell, Memory, Table
    from runner.binary.module import KIND_FUNC, KIND_GLOBAL, KIND_MEMORY, KIND_TABLE
    try:
        compiled = engine.compile(data)
    except (DecodeError, ValidationError) as exc:
        return type(exc).__name__
    m = compiled.module
    if m.start is not None:
        return "compiled (start function: not instantiated)"
    try:
        inst = engine.instantiate(compiled, lambda mod, name: imports.get(name) if mod == "spectest" else None)
    except LinkError:
        return "LinkError"
    except Trap as trap:
        assert trap.kind in (TrapKind.MEMORY_OUT_OF_BOUNDS, TrapKind.TABLE_OUT_OF_BOUNDS), f"instantiation trapped: {trap}"
        return "Trap"
    kinds = {KIND_FUNC: Function, KIND_TABLE: Table, KIND_MEMORY: Memory, KIND_GLOBAL: GlobalCell}
    assert set(inst.exports) == {e.name for e in m.exports}, "exports differ from the export section"
    for e in m.exports:
        ext = inst.exports[e.name]
        assert isinstance(ext, kinds[e.kind]), f"export {e.name!r} is a {type(ext).__name__}"
        if e.kind == KIND_FUNC:
            assert ext.type == m.func_type(e.index), f"export {e.name!r} has the wrong type"
    return "instantiated"


def worker(first: int, step: int, count: int) -> int:
    """Run cases first, first+step, ... < count; one JSON line per case on stdout."""
    from runner.api import Config, Engine
    engine = Engine(Config(cache=False, opt_level=0))
    imports = _spectest_imports()
    seeds = seed_modules()
    out = sys.stdout
    for i in range(first, count, step):
        data, desc = make_case(i, seeds)
        out.write(json.dumps({"start": i}) + "\n")
        out.flush()
        try:
            outcome, ok = run_case(engine, imports, data), True
        except AssertionError as exc:
            outcome, ok = f"bad result: {exc}", False
        except Exception as exc:  # noqa: BLE001 - the point of the test
            outcome, ok = f"{type(exc).__name__}: {exc}"[:500], False
        out.write(json.dumps({"case": i, "ok": ok, "outcome": outcome, "desc": desc}) + "\n")
        out.flush()
    return 0


# --- the test --------------------------------------------------------------------------------------

def _run_workers(count: int, root: Path | None = None) -> tuple[list[dict], list[str]]:
    """Run ``count`` cases in the workers; ``root`` replaces the seed suite (WASIRUN_SPECTEST)."""
    env = dict(os.environ, WASIRUN_SPECTEST=str(root)) if root is not None else None
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(w), str(WORKERS), str(count)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO), env=env)
             for w in range(WORKERS)]
    records, problems = [], []
    for w, p in enumerate(procs):
        try:
            out, err = p.communicate(timeout=CASE_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            problems.append(f"worker {w} timed out")
        last_start = None
        for line in out.splitlines():
            rec = json.loads(line)
            if "start" in rec:
                last_start = rec["start"]
            else:
                records.append(rec)
                last_start = None
        if p.returncode != 0 or last_start is not None:
            seeds = seed_modules(root)
            desc = make_case(last_start, seeds)[1] if last_start is not None else "?"
            problems.append(f"worker {w} died (exit status {p.returncode}) in case {last_start} [{desc}]\n"
                            f"{err[-3000:]}")
    return records, problems


def test_mutated_modules_fail_cleanly():
    import pytest
    if not spectest_root().is_dir():
        pytest.skip("no spec testsuite")
    records, problems = _run_workers(CASES)
    bad = [r for r in records if not r["ok"]]
    lines = problems + [f"case {r['case']} [{r['desc']}]: {r['outcome']}" for r in bad[:30]]
    assert not lines, f"{len(bad)} bad outcomes, {len(problems)} crashed workers:\n" + "\n".join(lines)
    assert len(records) == CASES
    # The mutations must reach past the decoder, or the test proves little.
    outcomes = {}
    for r in records:
        key = r["outcome"].split(" (")[0]
        outcomes[key] = outcomes.get(key, 0) + 1
    assert outcomes.get("instantiated", 0) + outcomes.get("compiled", 0) > CASES // 20, outcomes
    assert outcomes.get("ValidationError", 0) > CASES // 20, outcomes


def test_mutated_simd_modules_fail_cleanly():
    """The same on the simd scripts' modules: mutations that reach SIMD decoding, validation
    and the vector IR (an LLVM abort on some vector type would kill a worker)."""
    import pytest
    root = spectest_root() / "simd"
    if not root.is_dir():
        pytest.skip("no simd spec scripts")
    count = CASES // 2
    records, problems = _run_workers(count, root)
    bad = [r for r in records if not r["ok"]]
    lines = problems + [f"case {r['case']} [{r['desc']}]: {r['outcome']}" for r in bad[:30]]
    assert not lines, f"{len(bad)} bad outcomes, {len(problems)} crashed workers:\n" + "\n".join(lines)
    assert len(records) == count
    compiled = sum(1 for r in records if r["outcome"].split(" (")[0] in ("instantiated", "compiled"))
    assert compiled > count // 20


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        sys.exit(worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        from runner.api import Config, Engine
        data, desc = make_case(int(sys.argv[2]), seed_modules())
        print(desc)
        Path("fuzz-case.wasm").write_bytes(data)
        print("written to fuzz-case.wasm; outcome:",
              run_case(Engine(Config(cache=False, opt_level=0)), _spectest_imports(), data))
        sys.exit(0)
    if len(sys.argv) == 2 and sys.argv[1] == "--stats":
        recs, probs = _run_workers(CASES)
        counts = {}
        for r in recs:
            k = r["outcome"] if not r["ok"] else r["outcome"].split(" (")[0]
            counts[k] = counts.get(k, 0) + 1
        print(json.dumps(counts, indent=1))
        print("\n".join(probs))
        for r in recs:
            if not r["ok"]:
                print(r["case"], r["desc"], r["outcome"])
        sys.exit(0)
    print("usage: test_fuzz.py --case N | --stats | --worker FIRST STEP COUNT", file=sys.stderr)
    sys.exit(2)
