#!/usr/bin/env python3
"""Differential fuzzing of wasirun against wasmtime on wasm-smith modules.

    python scripts/fuzz-smith.py run [--first K] [--cases N] [--opt 0,2] [--tier top|first]
                                     [--keep DIR] [--timeout S]
    python scripts/fuzz-smith.py case I [--opt L] [-o case.wasm]   # one case, its differences
    python scripts/fuzz-smith.py check [--opt L] [--kind KIND] FILE.wasm
                                     # exit 0 while FILE shows a difference (a `wasm-tools shrink` predicate)
    python scripts/fuzz-smith.py shrink I [--opt L] [--kind KIND] [-o small.wasm]
                                     # case I, minimised by `wasm-tools shrink` with that predicate

Case I is the module `wasm-tools smith` makes from 16 KB of bytes seeded by I (valid 2.0 +
SIMD, `--ensure-termination`, NaNs canonicalised, no imports, everything exported).  It is
instantiated under wasmtime-py and under wasirun's API; then every exported function with
numeric parameters and results is called with a few argument vectors, in the same order on
both.  After instantiation and after each call the fuzzer compares, by bits: the results or
the trap kind, every exported global, every exported memory (size and a hash of its bytes)
and every exported table (size and which entries are null).  wasmtime-py passes floats as C
doubles and cannot pass a v128, so wasmtime is called through a wrapper module that imports
the function (and the globals and tables) and takes and returns raw bits as integers.

Fairness: wasmtime runs with fuel; a call that runs out of it (or overflows wasmtime's
stack) ends the case, and only the calls before it are made on wasirun.  wasirun runs in
a child process watched by the parent: a case that takes longer than --timeout seconds on
wasirun although it completed on wasmtime is reported as a hang, and the child restarts.
Prints one JSON line per difference and a summary line `N cases, N calls, N differences`.
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from runner.binary.module import type_name, F32, F64, I32, I64, V128, KIND_FUNC, KIND_GLOBAL, KIND_MEMORY, KIND_TABLE  # noqa: E402

SMITH_FLAGS = [
    "--ensure-termination", "--export-everything", "true", "--canonicalize-nans", "true",
    "--max-imports", "0", "--min-types", "3", "--min-funcs", "4", "--max-funcs", "30",
    "--max-instructions", "2000", "--max-memories", "1", "--max-memory32-bytes", str(4 << 20),
    "--max-table-elements", "200", "--simd-enabled", "true",
] + [arg for p in ("exceptions", "gc", "tail-call", "memory64", "relaxed-simd", "threads", "extended-const",
                   "wide-arithmetic", "custom-page-sizes", "custom-descriptors", "shared-everything-threads")
     for arg in (f"--{p}-enabled", "false")]
SEED_BYTES = 16384
ARG_VECTORS = 3                # argument vectors per exported function
WASMTIME_FUEL = 20_000_000     # per call (and for instantiation)
MAX_MEMORY = 16 << 20          # both engines refuse memory.grow past this (hashing 4 GiB per call is slow)
NUMERIC = (I32, I64, F32, F64, V128)
BITS = {I32: 32, I64: 64, F32: 32, F64: 64, V128: 128}
WAT_TYPE = {I32: "i32", I64: "i64", F32: "f32", F64: "f64", V128: "v128"}

# wasmtime's trap codes and wasirun's TrapKind names, as the spec's trap kinds.
WT_KIND = {"UNREACHABLE": "unreachable", "MEMORY_OUT_OF_BOUNDS": "memory", "HEAP_MISALIGNED": "misaligned",
           "TABLE_OUT_OF_BOUNDS": "table", "INDIRECT_CALL_TO_NULL": "null-call", "BAD_SIGNATURE": "signature",
           "INTEGER_DIVISION_BY_ZERO": "div0", "INTEGER_OVERFLOW": "overflow", "BAD_CONVERSION_TO_INTEGER": "conversion",
           "STACK_OVERFLOW": "stack", "OUT_OF_FUEL": "fuel", "NULL_REFERENCE": "null"}
OUR_KIND = {"UNREACHABLE": "unreachable", "MEMORY_OUT_OF_BOUNDS": "memory", "TABLE_OUT_OF_BOUNDS": "table",
            "INDIRECT_CALL_OUT_OF_RANGE": "table", "INDIRECT_CALL_NULL": "null-call",
            "INDIRECT_CALL_TYPE_MISMATCH": "signature", "INTEGER_DIVIDE_BY_ZERO": "div0", "INTEGER_OVERFLOW": "overflow",
            "INVALID_CONVERSION": "conversion", "STACK_EXHAUSTED": "stack", "OUT_OF_FUEL": "fuel"}


# --- the case ------------------------------------------------------------------------------------

def smith(case: int) -> bytes:
    seed = random.Random(0xF022_5EED * 7919 + case).randbytes(SEED_BYTES)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "m.wasm"
        subprocess.run(["wasm-tools", "smith", *SMITH_FLAGS, "-o", str(out)], input=seed, check=True,
                       capture_output=True)
        return out.read_bytes()


@dataclass(frozen=True)
class Call:
    export: str
    args: tuple[int, ...]      # raw bits


@dataclass
class Shape:
    """What the module exports, as the comparison needs it."""
    funcs: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)  # name -> (params, results)
    globals: dict[str, tuple[int, bool]] = field(default_factory=dict)   # name -> (value type, mutable)
    memories: list[str] = field(default_factory=list)
    tables: dict[str, str] = field(default_factory=dict)       # name -> element type ("funcref" / "externref")


def shape_of(data: bytes) -> Shape:
    from runner.binary.decode import decode as decode_module
    m = decode_module(data)
    s = Shape()
    for e in m.exports:
        if e.kind == KIND_FUNC:
            ft = m.func_type(e.index)
            if all(t in NUMERIC for t in (*ft.params, *ft.results)):
                s.funcs[e.name] = (tuple(ft.params), tuple(ft.results))
        elif e.kind == KIND_GLOBAL:
            s.globals[e.name] = global_type(m, e.index)
        elif e.kind == KIND_MEMORY:
            s.memories.append(e.name)
        elif e.kind == KIND_TABLE:
            s.tables[e.name] = type_name(m.tables[e.index].elem_type)
    return s


def global_type(m, index: int):
    """(value type, mutable) of global ``index``."""
    g = m.globals[index]      # the global index space, imports first
    return g.val_type, g.mutable


def wat_string(name: str) -> str:
    return '"' + "".join(f"\\{b:02x}" for b in name.encode()) + '"'


def interesting(t: int, rng: random.Random, mem_bytes: int) -> int:
    """An argument: edge values, addresses around the memory's end, or random bits."""
    r = rng.random()
    if t in (I32, I64):
        mask = (1 << BITS[t]) - 1
        if r < 0.3:
            return rng.choice((0, 1, 2, 7, 8, 255, 65535, 65536, mask, 1 << (BITS[t] - 1), (1 << (BITS[t] - 1)) - 1))
        if r < 0.5 and mem_bytes:
            return (mem_bytes - rng.randrange(1, 17)) & mask
        if r < 0.7:
            return rng.randrange(0, max(mem_bytes, 65536))
        return rng.getrandbits(BITS[t])
    if t == F32:
        if r < 0.4:
            return rng.choice((0, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000, 0x7FC00000,
                               0x7FA00000, 0x4F000000, 0xCF000000, 0x00000001, 0x7F7FFFFF))
        return rng.getrandbits(32)
    if t == F64:
        if r < 0.4:
            return rng.choice((0, 1 << 63, 0x3FF0000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
                               0x7FF8000000000000, 0x7FF4000000000000, 0x41E0000000000000, 0xC3E0000000000000, 1))
        return rng.getrandbits(64)
    if r < 0.2:
        return 0
    return rng.getrandbits(128)


def plan_calls(case: int, shape: Shape, mem_bytes: int) -> list[Call]:
    rng = random.Random(case * 31 + 5)
    calls = []
    for name, (params, _) in shape.funcs.items():
        for _ in range(ARG_VECTORS if params else 1):
            calls.append(Call(name, tuple(interesting(t, rng, mem_bytes) for t in params)))
    return calls


@dataclass
class Outcome:
    """What one step (instantiation or a call) ended with, and the exported state after it."""
    result: str                # "ok [bits...]" | "trap KIND" | "link" | "invalid"
    state: dict = field(default_factory=dict)

    def key(self):
        return (self.result, sorted(self.state.items()))


def state_hash(data: bytes) -> str:
    return f"{len(data)}:{hashlib.blake2b(data, digest_size=8).hexdigest()}"


# --- wasmtime, through a bits wrapper ----------------------------------------------------------

def _wrapper_wat(shape: Shape) -> str:
    """A module importing the exports and re-exporting them over integers only."""
    lines = ["(module"]
    for i, (name, (params, results)) in enumerate(shape.funcs.items()):
        lines.append(f'  (import "m" {wat_string(name)} (func $f{i} (param {" ".join(WAT_TYPE[t] for t in params)})'
                     f' (result {" ".join(WAT_TYPE[t] for t in results)})))')
    for i, (name, (t, mut)) in enumerate(shape.globals.items()):
        wt_ = WAT_TYPE.get(t) or type_name(t)
        gt = f"(mut {wt_})" if mut else wt_
        lines.append(f'  (import "m" {wat_string(name)} (global $g{i} {gt}))')
    for i, (name, elem) in enumerate(shape.tables.items()):
        lines.append(f'  (import "m" {wat_string(name)} (table $t{i} 0 {elem}))')
    body = []
    for i, (name, (params, results)) in enumerate(shape.funcs.items()):
        wparams, code, k = [], [], 0
        for t in params:
            if t == V128:
                wparams += ["i64", "i64"]
                code.append(f"local.get {k} i64x2.splat local.get {k + 1} i64x2.replace_lane 1")
                k += 2
            else:
                wparams.append({I32: "i32", F32: "i32", I64: "i64", F64: "i64"}[t])
                code.append(f"local.get {k}" + {F32: " f32.reinterpret_i32", F64: " f64.reinterpret_i64"}.get(t, ""))
                k += 1
        code.append(f"call $f{i}")
        rlocals = [k + j for j in range(len(results))]
        for j in reversed(range(len(results))):
            code.append(f"local.set {rlocals[j]}")
        wresults = []
        for j, t in enumerate(results):
            get = f"local.get {rlocals[j]}"
            if t == V128:
                code.append(f"{get} i64x2.extract_lane 0 {get} i64x2.extract_lane 1")
                wresults += ["i64", "i64"]
            else:
                code.append(get + {F32: " i32.reinterpret_f32", F64: " i64.reinterpret_f64"}.get(t, ""))
                wresults.append({I32: "i32", F32: "i32", I64: "i64", F64: "i64"}[t])
        locs = " ".join(WAT_TYPE[t] for t in results)
        body.append(f'  (func (export "f{i}") (param {" ".join(wparams)}) (result {" ".join(wresults)})'
                    f' (local {locs}) {" ".join(code)})')
    for i, (name, (t, _)) in enumerate(shape.globals.items()):
        if t == V128:
            body.append(f'  (func (export "g{i}") (result i64 i64) global.get $g{i} i64x2.extract_lane 0'
                        f' global.get $g{i} i64x2.extract_lane 1)')
        elif t not in NUMERIC:
            body.append(f'  (func (export "g{i}") (result i32) global.get $g{i} ref.is_null)')
        else:
            conv = {F32: " i32.reinterpret_f32", F64: " i64.reinterpret_f64"}.get(t, "")
            r = {I32: "i32", F32: "i32", I64: "i64", F64: "i64"}[t]
            body.append(f'  (func (export "g{i}") (result {r}) global.get $g{i}{conv})')
    for i, _ in enumerate(shape.tables):
        body.append(f'  (func (export "tsize{i}") (result i32) table.size $t{i})')
        body.append(f'  (func (export "tnull{i}") (param i32) (result i32) local.get 0 table.get $t{i} ref.is_null)')
    return "\n".join(lines + body) + ")\n"


def _split(bits_list, types):
    """wasmtime wrapper results -> raw bits per wasm value."""
    out, k = [], 0
    for t in types:
        if t == V128:
            out.append((bits_list[k] & (2**64 - 1)) | (bits_list[k + 1] & (2**64 - 1)) << 64)
            k += 2
        else:
            out.append(bits_list[k] & ((1 << BITS[t]) - 1))
            k += 1
    return out


def _wrapper_args(params, args):
    out = []
    for t, a in zip(params, args):
        if t == V128:
            out += [_signed(a & (2**64 - 1), 64), _signed(a >> 64, 64)]
        else:
            out.append(_signed(a, BITS[t]))
    return out


def _signed(v, bits):
    return v - (1 << bits) if v >> (bits - 1) else v


class Wasmtime:
    def __init__(self):
        import wasmtime as wt
        self.wt = wt
        c = wt.Config()
        c.consume_fuel = True
        c.wasm_simd = True
        for a in ("wasm_multi_memory", "wasm_memory64", "wasm_tail_call", "wasm_gc", "wasm_function_references",
                  "wasm_exceptions", "wasm_relaxed_simd", "wasm_threads", "wasm_wide_arithmetic",
                  "wasm_custom_page_sizes", "wasm_stack_switching", "wasm_component_model"):
            try:
                setattr(c, a, False)
            except Exception:  # noqa: BLE001 - an option this wasmtime version lacks
                pass
        self.engine = wt.Engine(c)

    def trap_kind(self, exc) -> str:
        code = getattr(exc, "trap_code", None)
        if code is None:
            return "?" + str(exc).splitlines()[0][:60]
        return WT_KIND.get(code.name, code.name)

    def run(self, data: bytes, shape: Shape, calls: list[Call]) -> tuple[list[Outcome], int]:
        """Outcomes of instantiation and of the calls it completed; also the memory size
        after instantiation (for argument choice: callers may plan calls with it)."""
        wt = self.wt
        try:
            module = wt.Module(self.engine, data)
        except Exception as e:  # noqa: BLE001
            return [Outcome("invalid " + str(e).splitlines()[0][:80])], 0
        store = wt.Store(self.engine)
        store.set_fuel(WASMTIME_FUEL)
        store.set_limits(memory_size=MAX_MEMORY)
        try:
            inst = wt.Instance(store, module, [])
        except wt.Trap as e:
            return [Outcome("trap " + self.trap_kind(e))], 0
        except Exception as e:  # noqa: BLE001
            return [Outcome("link " + str(e).splitlines()[0][:80])], 0
        ex = inst.exports(store)
        wrap_mod = wt.Module(self.engine, wat_to_wasm(_wrapper_wat(shape)))
        imports = [ex[n] for n in shape.funcs]
        imports += [ex[n] for n in shape.globals]
        imports += [ex[n] for n in shape.tables]
        wrap = wt.Instance(store, wrap_mod, imports).exports(store)
        wnames = {n: f"f{i}" for i, n in enumerate(shape.funcs)}

        def state():
            st = {}
            for i, (n, (t, _)) in enumerate(shape.globals.items()):
                r = wrap[f"g{i}"](store)
                if t in NUMERIC:
                    st["global " + n] = _split(list(r) if isinstance(r, (list, tuple)) else [r], [t])[0]
                else:
                    st["global " + n] = "null" if r else "ref"
            for n in shape.memories:
                mem = ex[n]
                size = mem.data_len(store)        # (Memory.read copies byte by byte: 1 s per MiB)
                raw = ctypes.string_at(ctypes.addressof(mem.data_ptr(store).contents), size) if size else b""
                st["memory " + n] = state_hash(raw)
            for i, n in enumerate(shape.tables):
                size = wrap[f"tsize{i}"](store)
                st["table " + n] = f"{size}:" + "".join(str(wrap[f"tnull{i}"](store, k)) for k in range(size))
            return st

        outcomes = [Outcome("ok", state())]
        for call in calls:
            params, results = shape.funcs[call.export]
            store.set_fuel(WASMTIME_FUEL)
            try:
                r = wrap[wnames[call.export]](store, *_wrapper_args(params, call.args))
                r = [] if r is None else list(r) if isinstance(r, (list, tuple)) else [r]
                res = "ok " + " ".join(hex(b) for b in _split(r, results))
            except wt.Trap as e:
                kind = self.trap_kind(e)
                if kind in ("fuel", "stack"):
                    break            # not comparable: this call and the rest are left out
                res = "trap " + kind
            outcomes.append(Outcome(res, state()))
        return outcomes, 0


def wat_to_wasm(text: str) -> bytes:
    return subprocess.run(["wasm-tools", "parse", "-", "-o", "/dev/stdout"], input=text.encode(),
                          capture_output=True, check=True).stdout


# --- wasirun --------------------------------------------------------------------------------------

class Wasirun:
    def __init__(self, opt: int, tier: str):
        from runner.api import Config, Engine
        self.engine = Engine(Config(cache=False, opt_level=opt, tiering=(tier == "first"), max_memory=MAX_MEMORY))

    def run(self, data: bytes, shape: Shape, calls: list[Call]) -> list[Outcome]:
        from runner.errors import DecodeError, LinkError, Trap, ValidationError
        try:
            compiled = self.engine.compile(data)
        except (DecodeError, ValidationError) as e:
            return [Outcome("invalid " + str(e)[:80])]
        try:
            inst = self.engine.instantiate(compiled, {})
        except Trap as t:
            return [Outcome("trap " + OUR_KIND.get(t.kind.name, t.kind.name))]
        except LinkError as e:
            return [Outcome("link " + str(e)[:80])]
        ex = inst.exports

        def state():
            st = {}
            for n, (t, _) in shape.globals.items():
                bits = ex[n].bits
                st["global " + n] = bits if t in NUMERIC else ("ref" if bits else "null")
            for n in shape.memories:
                st["memory " + n] = state_hash(bytes(ex[n].view()))
            for n in shape.tables:
                tab = ex[n]
                size = tab.record.size
                st["table " + n] = f"{size}:" + "".join("0" if tab.get(k) else "1" for k in range(size))
            return st

        outcomes = [Outcome("ok", state())]
        for call in calls:
            try:
                res = "ok " + " ".join(hex(b) for b in ex[call.export].call_raw(list(call.args)))
            except Trap as t:
                res = "trap " + OUR_KIND.get(t.kind.name, t.kind.name)
            outcomes.append(Outcome(res, state()))
        return outcomes


def calls_in_wat(text: str) -> list[Call]:
    """The ``;; call NAME ARG...`` lines of a regression test (integer arguments, raw bits)."""
    calls = []
    for line in text.splitlines():
        words = line.split()
        if words[:2] == [";;", "call"]:
            calls.append(Call(words[2], tuple(int(w, 0) for w in words[3:])))
    return calls


def initial_memory_bytes(data: bytes) -> int:
    from runner.binary.decode import decode as decode_module
    m = decode_module(data)
    return m.memories[0].limits.min * 65536 if m.memories else 0


def compare(ref: list[Outcome], ours: list[Outcome], calls: list[Call]) -> str | None:
    """The first difference, as one line, or None."""
    for k, (a, b) in enumerate(zip(ref, ours)):
        where = "instantiation" if k == 0 else f"call {k - 1} {calls[k - 1].export}({', '.join(map(hex, calls[k - 1].args))})"
        if a.result != b.result:
            return f"{where}: wasmtime {a.result} / wasirun {b.result}"
        if a.state != b.state:
            diffs = [f"{key}: {a.state.get(key)} / {b.state.get(key)}" for key in sorted(a.state)
                     if a.state.get(key) != b.state.get(key)]
            return f"{where} ({a.result}): state differs: " + "; ".join(diffs[:4])
    if len(ours) < len(ref):
        return f"wasirun stopped after {len(ours)} steps of {len(ref)}"
    return None


def run_module(data: bytes, case: int, wasmtime: Wasmtime, ours: Wasirun,
               calls: list[Call] | None = None) -> tuple[str | None, int]:
    """(first difference or None, number of calls compared); ``calls`` default to the
    case's random argument vectors for every numeric export."""
    shape = shape_of(data)
    if calls is None:
        calls = plan_calls(case, shape, initial_memory_bytes(data))
    ref, _ = wasmtime.run(data, shape, calls)
    calls = calls[:len(ref) - 1]
    mine = ours.run(data, shape, calls)
    return compare(ref, mine, calls), len(ref) - 1


# --- driver: a child process runs the cases, the parent watches the clock ----------------------------

def child(first: int, count: int, opt: int, tier: str) -> int:
    wasmtime, ours = Wasmtime(), Wasirun(opt, tier)
    out = sys.stdout
    for case in range(first, first + count):
        out.write(json.dumps({"start": case}) + "\n")
        out.flush()
        try:
            data = smith(case)
            diff, ncalls = run_module(data, case, wasmtime, ours)
        except Exception as e:  # noqa: BLE001 - a fuzzer reports every failure as a case result
            diff, ncalls = f"exception {type(e).__name__}: {str(e)[:300]}", 0
        out.write(json.dumps({"case": case, "calls": ncalls, "diff": diff}) + "\n")
        out.flush()
    return 0


def drive(first: int, count: int, opt: int, tier: str, timeout: float, keep: Path | None) -> dict:
    """Run cases [first, first+count) in a child; returns totals and prints each difference."""
    stats = {"opt": opt, "tier": tier, "cases": 0, "calls": 0, "differences": 0, "hangs": 0}
    case = first
    end = first + count
    silent = 0                                              # restarts of a child that said nothing
    while case < end:
        proc = subprocess.Popen([sys.executable, __file__, "_child", str(case), str(end - case), str(opt), tier],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
        current, deadline = None, time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:                                   # the case ran over its time
                proc.kill()
                proc.wait()
                stats["hangs"] += 1
                if current is None:                         # between cases: start again there
                    silent += 1
                    if silent > 3:
                        raise SystemExit(f"fuzz-smith: the child never started case {case} ({silent} tries)")
                    print(json.dumps({"case": case, "opt": opt, "tier": tier,
                                      "note": f"child silent for {timeout:.0f} s between cases; restarted"}),
                          flush=True)
                    break
                report(stats, current, f"hang: no result within {timeout:.0f} s", keep)
                case = current + 1
                break
            line = proc.stdout.readline()
            if not line:                                    # the child exited (or crashed)
                proc.wait()
                if current is not None:
                    err = proc.stderr.read()[-400:].strip().replace("\n", " | ")
                    report(stats, current, f"crash: exit status {proc.returncode}: {err}", keep)
                    case = current + 1
                else:
                    case = end
                break
            rec = json.loads(line)
            if "start" in rec:
                current, deadline = rec["start"], time.monotonic() + timeout
                continue
            # The clock restarts with every record: a case that finished just before its
            # deadline must not leave the next one's start message a fraction of a second.
            current, deadline = None, time.monotonic() + timeout
            stats["cases"] += 1
            stats["calls"] += rec["calls"]
            case = rec["case"] + 1
            if rec["diff"]:
                report(stats, rec["case"], rec["diff"], keep)
    return stats


def report(stats: dict, case: int, diff: str, keep: Path | None) -> None:
    if not diff.startswith(("hang", "crash")):
        pass
    else:
        stats["cases"] += 1
    stats["differences"] += 1
    print(json.dumps({"case": case, "opt": stats["opt"], "tier": stats["tier"], "diff": diff}), flush=True)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"case-{case}.wasm").write_bytes(smith(case))


def shrink(args) -> int:
    """Minimise case ``args.case`` while it still differs (with ``args.kind`` in the text)."""
    out = args.o or Path(f"case-{args.case}.shrunk.wasm")
    with tempfile.TemporaryDirectory() as d:
        src, pred = Path(d) / "case.wasm", Path(d) / "pred.sh"
        src.write_bytes(smith(args.case))
        # Shrinking removes the fuel checks too, so a candidate may loop forever: time-limit it.
        pred.write_text(f"#!/bin/sh\nexec timeout 20 {sys.executable} {Path(__file__).resolve()} check "
                        f"--opt {args.opt} --tier {args.tier} --case {args.case} --kind '{args.kind}' \"$1\" "
                        ">/dev/null 2>&1\n")
        pred.chmod(0o755)
        if subprocess.run([str(pred), str(src)]).returncode != 0:
            print(f"case {args.case} shows no difference{' with ' + repr(args.kind) if args.kind else ''}")
            return 1
        subprocess.run(["wasm-tools", "shrink", str(pred), str(src), "-o", str(out)], check=True)
    print(f"written {out}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--first", type=int, default=0)
    r.add_argument("--cases", type=int, default=100)
    r.add_argument("--opt", default="0,2", help="comma-separated opt levels (default 0,2)")
    r.add_argument("--tier", choices=("top", "first"), default="top")
    r.add_argument("--timeout", type=float, default=60.0, help="seconds per case on wasirun")
    r.add_argument("--keep", type=Path, help="write each differing case's module here")
    c = sub.add_parser("case")
    c.add_argument("case", type=int)
    c.add_argument("--opt", type=int, default=2)
    c.add_argument("--tier", choices=("top", "first"), default="top")
    c.add_argument("-o", type=Path, help="write the module here")
    k = sub.add_parser("check")
    k.add_argument("wasm", type=Path)
    k.add_argument("--opt", type=int, default=2)
    k.add_argument("--tier", choices=("top", "first"), default="top")
    k.add_argument("--kind", default="", help="only a difference whose text contains this counts")
    k.add_argument("--case", type=int, default=0, help="the case number the arguments are drawn from")
    h = sub.add_parser("shrink")
    h.add_argument("case", type=int)
    h.add_argument("--opt", type=int, default=2)
    h.add_argument("--tier", choices=("top", "first"), default="top")
    h.add_argument("--kind", default="", help="keep only modules whose difference contains this text")
    h.add_argument("-o", type=Path, default=None, help="default: case-I.shrunk.wasm")
    if argv is None and len(sys.argv) == 6 and sys.argv[1] == "_child":
        return child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    args = ap.parse_args(argv)
    if args.cmd == "run":
        totals = []
        for opt in (int(x) for x in args.opt.split(",")):
            stats = drive(args.first, args.cases, opt, args.tier, args.timeout, args.keep)
            print(json.dumps(stats), flush=True)
            totals.append(stats)
        print(", ".join(f"-O{s['opt']} {s['tier']}: {s['cases']} cases, {s['calls']} calls, "
                        f"{s['differences']} differences" for s in totals))
        return 1 if any(s["differences"] for s in totals) else 0
    if args.cmd == "case":
        data = smith(args.case)
        if args.o:
            args.o.write_bytes(data)
        diff, n = run_module(data, args.case, Wasmtime(), Wasirun(args.opt, args.tier))
        print(f"case {args.case}: {n} calls: {diff or 'no difference'}")
        return 1 if diff else 0
    if args.cmd == "shrink":
        return shrink(args)
    data = args.wasm.read_bytes()
    try:
        diff, _ = run_module(data, args.case, Wasmtime(), Wasirun(args.opt, args.tier))
    except Exception:  # noqa: BLE001 - a shrunk module that breaks the harness is not the bug
        return 1
    if diff:
        print(diff)
    return 0 if diff and args.kind in diff else 1


if __name__ == "__main__":
    sys.exit(main())
