#!/usr/bin/env python3
"""Differential fuzzing against wasmtime (a developer tool, not part of CI).

    python scripts/fuzz-diff.py FIRST STEP COUNT mut|seed      (OPT=0..3 picks wasirun's opt level)

Takes the spec suite's modules (``seed``) or the mutations of tests/test_fuzz.py
(``mut``, case numbers FIRST, FIRST+STEP, ... < COUNT), and compares wasirun with
wasmtime (configured for WebAssembly 2.0 without SIMD, with fuel): whether the
module is accepted, how instantiation ends, and the results or trap kinds of
calls to every exported function with numeric signature on a few interesting
arguments (never signalling NaNs: wasmtime-py passes floats through Python
floats).  Calls that run out of fuel or overflow wasmtime's smaller stack are
not compared.  Prints JSON lines; ``"diff"`` lines are divergences.
"""
import importlib.util, json, os, random, struct, sys
from pathlib import Path
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
spec = importlib.util.spec_from_file_location("tf", REPO / "tests" / "test_fuzz.py")
tf = importlib.util.module_from_spec(spec); sys.modules["tf"] = tf; spec.loader.exec_module(tf)

import wasmtime as wt
from runner.api import Config, Engine
from runner.errors import DecodeError, ValidationError, LinkError, Trap, TrapKind
from runner.binary.module import I32, I64, F32, F64

OPT = int(os.environ.get("OPT", "0"))

def wt_engine():
    c = wt.Config()
    c.consume_fuel = True
    for a in ("wasm_simd", "wasm_multi_memory", "wasm_memory64", "wasm_tail_call", "wasm_gc", "wasm_function_references",
              "wasm_exceptions", "wasm_relaxed_simd", "wasm_threads", "wasm_wide_arithmetic", "wasm_custom_page_sizes",
              "wasm_stack_switching", "wasm_component_model"):
        try: setattr(c, a, False)
        except Exception: pass
    return wt.Engine(c)

WTE = wt_engine()
TRAPMAP = {
    TrapKind.UNREACHABLE: "UNREACHABLE", TrapKind.MEMORY_OUT_OF_BOUNDS: "MEMORY_OUT_OF_BOUNDS",
    TrapKind.TABLE_OUT_OF_BOUNDS: "TABLE_OUT_OF_BOUNDS", TrapKind.INDIRECT_CALL_NULL: "INDIRECT_CALL_TO_NULL",
    TrapKind.INDIRECT_CALL_OUT_OF_RANGE: "TABLE_OUT_OF_BOUNDS", TrapKind.INDIRECT_CALL_TYPE_MISMATCH: "BAD_SIGNATURE",
    TrapKind.INTEGER_DIVIDE_BY_ZERO: "INTEGER_DIVISION_BY_ZERO", TrapKind.INTEGER_OVERFLOW: "INTEGER_OVERFLOW",
    TrapKind.INVALID_CONVERSION: "BAD_CONVERSION_TO_INTEGER", TrapKind.STACK_EXHAUSTED: "STACK_OVERFLOW",
}

def wt_trapname(e):
    code = getattr(e, "trap_code", None)
    if code is None: return "?" + str(e).splitlines()[0][:80]
    n = code.name if hasattr(code, "name") else str(code)
    return n.replace("UNREACHABLE_CODE_REACHED", "UNREACHABLE")

VALS = {
    I32: [0, 1, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 7, 65535, 65536, 100],
    I64: [0, 1, 0xFFFFFFFFFFFFFFFF, 1 << 63, (1 << 63) - 1, 5, 1 << 32],
    F32: [0, 0x80000000, 0x3F800000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x4F000000, 0xCF000000, 0x40490FDB, 1],
    F64: [0, 1 << 63, 0x3FF0000000000000, 0x7FF0000000000000, 0x7FF8000000000000, 0x41E0000000000000, 0xC3E0000000000000, 1],
}

def wt_val(t, bits):
    if t == I32: return wt.Val.i32(bits - (1 << 32) if bits >> 31 else bits)
    if t == I64: return wt.Val.i64(bits - (1 << 64) if bits >> 63 else bits)
    if t == F32: return wt.Val.f32(struct.unpack("<f", struct.pack("<I", bits))[0])
    if t == F64: return wt.Val.f64(struct.unpack("<d", struct.pack("<Q", bits))[0])

def wt_bits(t, v):
    if isinstance(v, wt.Val): v = v.value
    if t == I32: return v & 0xFFFFFFFF
    if t == I64: return v & 0xFFFFFFFFFFFFFFFF
    if t == F32: return struct.unpack("<I", struct.pack("<f", v))[0]
    if t == F64: return struct.unpack("<Q", struct.pack("<d", v))[0]
    return None

def same(t, a, b):
    if t == F32:
        if (a & 0x7F800000) == 0x7F800000 and a & 0x7FFFFF and (b & 0x7F800000) == 0x7F800000 and b & 0x7FFFFF: return True
    if t == F64:
        e = 0x7FF0000000000000; m = (1 << 52) - 1
        if (a & e) == e and a & m and (b & e) == e and b & m: return True
    return a == b

def wt_linker(store):
    L = wt.Linker(WTE)
    i32, i64, f32, f64 = wt.ValType.i32(), wt.ValType.i64(), wt.ValType.f32(), wt.ValType.f64()
    for name, ps in (("print", []), ("print_i32", [i32]), ("print_i64", [i64]), ("print_f32", [f32]), ("print_f64", [f64]),
                     ("print_i32_f32", [i32, f32]), ("print_f64_f64", [f64, f64])):
        L.define(store, "spectest", name, wt.Func(store, wt.FuncType(ps, []), lambda *a: None))
    L.define(store, "spectest", "global_i32", wt.Global(store, wt.GlobalType(i32, False), wt.Val.i32(666)))
    L.define(store, "spectest", "global_i64", wt.Global(store, wt.GlobalType(i64, False), wt.Val.i64(666)))
    L.define(store, "spectest", "global_f32", wt.Global(store, wt.GlobalType(f32, False), wt.Val.f32(666.6)))
    L.define(store, "spectest", "global_f64", wt.Global(store, wt.GlobalType(f64, False), wt.Val.f64(666.6)))
    L.define(store, "spectest", "table", wt.Table(store, wt.TableType(wt.ValType.funcref(), wt.Limits(10, 20)), None))
    L.define(store, "spectest", "memory", wt.Memory(store, wt.MemoryType(wt.Limits(1, 2))))
    return L

def run(i, data, desc, ours_engine, imports, out):
    res = []
    try:
        wmod = wt.Module(WTE, data); wt_ok = True
    except Exception as e:
        wt_ok = False; wt_err = str(e).splitlines()[0]
    try:
        c = ours_engine.compile(data); our_ok = True
    except (DecodeError, ValidationError) as e:
        our_ok = False; our_err = str(e)
    if wt_ok != our_ok:
        return [f"ACCEPT-DIFF wasmtime={'ok' if wt_ok else wt_err} ours={'ok' if our_ok else our_err}"]
    if not wt_ok:
        return []
    m = c.module
    store = wt.Store(WTE); store.set_fuel(2_000_000)
    try:
        winst = wt_linker(store).instantiate(store, wmod); wt_inst = "ok"
    except wt.Trap as e:
        wt_inst = "trap " + wt_trapname(e)
    except Exception:
        wt_inst = "link"
    try:
        oinst = ours_engine.instantiate(c, lambda mod, name: imports.get(name) if mod == "spectest" else None); our_inst = "ok"
    except LinkError:
        our_inst = "link"
    except Trap as t:
        our_inst = "trap " + TRAPMAP.get(t.kind, t.kind.name)
    if wt_inst.startswith("trap OUT_OF_FUEL"):
        return []
    if wt_inst != our_inst:
        return [f"INSTANTIATE-DIFF wasmtime={wt_inst} ours={our_inst}"]
    if wt_inst != "ok":
        return []
    rng = random.Random(i)
    wexports = winst.exports(store)
    for e in m.exports:
        if e.kind != 0: continue
        ft = m.func_type(e.index)
        if any(t not in VALS for t in ft.params) or any(t not in VALS for t in ft.results): continue
        for _ in range(3):
            args = [rng.choice(VALS[t]) for t in ft.params]
            store.set_fuel(2_000_000)
            try:
                r = wexports[e.name](store, *[wt_val(t, a) for t, a in zip(ft.params, args)])
                if r is None: r = []
                elif not isinstance(r, (list, tuple)): r = [r]
                wres = ("ok", [wt_bits(t, v) for t, v in zip(ft.results, r)])
            except wt.Trap as ex:
                wres = ("trap", wt_trapname(ex))
            except Exception as ex:
                wres = ("err", str(ex)[:100])
            if wres[0] == "trap" and wres[1] in ("OUT_OF_FUEL", "STACK_OVERFLOW"):
                return res
            if wres[0] == "err":
                return res
            out.write(json.dumps({"call": i, "f": e.name, "args": args}) + "\n"); out.flush()
            try:
                ores = ("ok", oinst.exports[e.name].call_raw(args))
            except Trap as t:
                ores = ("trap", TRAPMAP.get(t.kind, t.kind.name))
            if wres[0] != ores[0] or (wres[0] == "trap" and wres[1] != ores[1]) or (
                    wres[0] == "ok" and not all(same(t, a, b) for t, a, b in zip(ft.results, wres[1], ores[1]))):
                res.append(f"CALL-DIFF {e.name}{[hex(a) for a in args]}: wasmtime={wres} ours={ores}")
                return res
    return res

def main(first, step, count, mutate=True):
    eng = Engine(Config(cache=False, opt_level=OPT))
    imports = tf._spectest_imports()
    seeds = tf.seed_modules()
    out = sys.stdout
    for i in range(first, count, step):
        if mutate:
            data, desc = tf.make_case(i, seeds)
        else:
            if i >= len(seeds): break
            data, desc = seeds[i].read_bytes(), str(seeds[i])
        out.write(json.dumps({"start": i}) + "\n"); out.flush()
        imports = tf._spectest_imports()
        try:
            r = run(i, data, desc, eng, imports, out)
        except Exception:
            import traceback
            r = ["EXC " + traceback.format_exc()[-800:]]
        for x in r:
            out.write(json.dumps({"case": i, "desc": desc, "diff": x}) + "\n"); out.flush()
    return 0

if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "mut"))
