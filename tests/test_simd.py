"""Fixed-width SIMD (v128): decoding, validation, translation and running.

Modules are written in WebAssembly text and assembled with ``wasm-tools parse``; the
C program tests/programs/simd.c is built with ``zig cc -msimd128`` and its output
compared with wasmtime's.  The simd spec scripts run at the end (-O0 and -O2).
"""
from __future__ import annotations

import importlib.util
import shutil
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.api import Config, Engine, validate
from runner.binary import opcodes as op
from runner.binary.decode import decode, iter_instructions
from runner.binary.features import WASM2
from runner.binary.module import V128
from runner.errors import DecodeError, Trap, ValidationError
from .wat import wasm_tools_parse as assemble

REPO = Path(__file__).resolve().parents[1]
WASM_TOOLS = shutil.which("wasm-tools")
needs_wasm_tools = pytest.mark.skipif(WASM_TOOLS is None, reason="wasm-tools is not installed")

M32 = (1 << 32) - 1




def lanes32(*values: int) -> int:
    """A v128 from four i32 lanes, lane 0 first."""
    return sum((v & M32) << (32 * i) for i, v in enumerate(values))


def split32(v: int) -> list[int]:
    return [(v >> (32 * i)) & M32 for i in range(4)]


@pytest.fixture(scope="module", params=[0, 2], ids=["O0", "O2"])
def engine(request):
    e = Engine(Config(cache=False, opt_level=request.param, tiering=False))
    yield e
    e.close()


def instantiate(engine, wasm: bytes):
    return engine.instantiate(engine.compile(wasm), {})


# --- the opcode table and the decoder -----------------------------------------------------------

def test_opcode_table_has_every_simd_instruction():
    simd = [(c, n) for c, n, *_ in op.OPCODES if op.is_simd(c)]
    assert len(simd) == 236 + 20                              # 2.0's fixed-width SIMD, 3.0's relaxed SIMD
    assert op.CODE["i8x16.shuffle"] == 0xFD0D and op.CODE["f64x2.convert_low_i32x4_u"] == 0xFDFF
    assert op.IMMEDIATE[op.CODE["v128.load32_lane"]] == op.MEMARG_LANE


@needs_wasm_tools
def test_decoder_reads_simd_immediates(tmp_path):
    wasm = assemble("""(module (memory 1)
      (func (param v128) (result v128)
        (drop (v128.const i32x4 1 2 3 0xffffffff))
        (drop (i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31 (local.get 0) (local.get 0)))
        (v128.load16_lane offset=6 align=1 3 (i32.const 0) (local.get 0))))""", tmp_path)
    m = decode(wasm)
    assert m.types[0].params == (V128,) and m.types[0].results == (V128,)
    body = m.bodies[0]
    instrs = [(op.NAME[c], imm) for _, c, imm in iter_instructions(m.raw, body.code_start, body.code_end)]
    assert instrs[0] == ("v128.const", lanes32(1, 2, 3, -1))
    assert instrs[4] == ("i8x16.shuffle", (0, 17, 2, 19, 4, 21, 6, 23, 8, 25, 10, 27, 12, 29, 14, 31))
    assert instrs[8] == ("v128.load16_lane", op.MemArg(align=0, offset=6, memory=0, lane=3))
    validate(m)


def test_unknown_simd_opcode_is_malformed_with_its_offset():
    # (func) whose body is 0xFD 0x9A (a hole in the SIMD opcode space), then end.
    body = bytes([0x00, 0xFD, 0x9A, 0x01, 0x0B])
    wasm = (b"\0asm\1\0\0\0" + bytes([1, 4, 1, 0x60, 0, 0]) + bytes([3, 2, 1, 0])
            + bytes([10, len(body) + 2, 1, len(body)]) + body)
    with pytest.raises(DecodeError) as e:
        validate(decode(wasm))       # bodies are decoded as they are validated
    assert "illegal opcode 0xfd 0x9a" in str(e.value) and e.value.offset == 23


# --- validation -------------------------------------------------------------------------------

@needs_wasm_tools
@pytest.mark.parametrize("body, message", [
    ("(i8x16.extract_lane_s 16 (local.get 0)) drop", "invalid lane index"),
    ("(i64x2.replace_lane 2 (local.get 0) (i64.const 0)) drop", "invalid lane index"),
    ("(i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 32 (local.get 0) (local.get 0)) drop",
     "invalid lane index"),
    ("(v128.load32_lane 4 (i32.const 0) (local.get 0)) drop", "invalid lane index"),
    ("(v128.load align=32 (i32.const 0)) drop", "alignment"),
    ("(v128.load8x8_s align=16 (i32.const 0)) drop", "alignment"),
    ("(v128.load16_splat align=4 (i32.const 0)) drop", "alignment"),
    ("(v128.store64_lane align=16 0 (i32.const 0) (local.get 0))", "alignment"),
    ("(i32x4.add (local.get 0) (i32.const 1)) drop", "type mismatch"),
    ("(i8x16.shl (local.get 0) (local.get 0)) drop", "type mismatch"),
    ("(f32x4.splat (i32.const 1)) drop", "type mismatch"),
])
def test_invalid_simd(body, message, tmp_path):
    wasm = assemble(f"(module (memory 1) (func (param v128) {body}))", tmp_path)
    with pytest.raises(ValidationError) as e:
        validate(decode(wasm))
    assert message in str(e.value)


@needs_wasm_tools
def test_valid_alignments_and_lanes(tmp_path):
    wasm = assemble("""(module (memory 1)
      (func (param v128) (result v128)
        (drop (v128.load align=16 (i32.const 0)))
        (drop (v128.load32x2_u align=8 (i32.const 0)))
        (drop (v128.load64_zero align=8 (i32.const 0)))
        (v128.store8_lane align=1 15 (i32.const 0) (local.get 0))
        (drop (i8x16.extract_lane_u 15 (local.get 0)))
        (drop (f64x2.extract_lane 1 (local.get 0)))
        (select (local.get 0) (v128.const i64x2 0 0) (i32.const 1))))""", tmp_path)
    validate(decode(wasm))


# --- running ----------------------------------------------------------------------------------

PROGRAM = """(module
  (memory (export "mem") 1)
  (global $g (export "g") (mut v128) (v128.const i32x4 1 2 3 4))
  (func (export "add") (param v128 v128) (result v128) (i32x4.add (local.get 0) (local.get 1)))
  (func (export "mixed") (param i32 v128 f64 v128) (result v128 i64 v128)
    (i32x4.replace_lane 0 (local.get 1) (local.get 0))
    (i64.trunc_f64_s (local.get 2))
    (block (result v128) (local.get 3)))
  (func (export "swap_global") (param v128) (result v128)
    (global.get $g) (global.set $g (local.get 0)))
  (func (export "load") (param i32) (result v128) (v128.load (local.get 0)))
  (func (export "load_lane") (param i32 v128) (result v128) (v128.load64_lane 1 (local.get 0) (local.get 1)))
  (func (export "store") (param i32 v128) (v128.store offset=1 (local.get 0) (local.get 1)))
  (func (export "drop_load") (param i32) (drop (v128.load (local.get 0))))
  (func (export "lane_of_load") (param i32) (result i32) (i32x4.extract_lane 0 (v128.load (local.get 0))))
  (func (export "lane_of_load8x8") (param i32) (result i32) (i16x8.extract_lane_u 1 (v128.load8x8_u (local.get 0))))
  (func (export "other_lane") (param i32) (result i32)
    (i32x4.extract_lane 0 (v128.load32_lane 3 (local.get 0) (v128.const i64x2 0 0))))
  (func (export "drop_load8x8") (param i32) (drop (v128.load8x8_u (local.get 0))))
  (func (export "drop_splat") (param i32) (drop (v128.load32_splat (local.get 0))))
  (func (export "drop_zero") (param i32) (drop (v128.load64_zero (local.get 0))))
  (func (export "drop_lane") (param i32 v128) (drop (v128.load16_lane 7 (local.get 0) (local.get 1))))
  (func (export "swizzle") (param v128 v128) (result v128) (i8x16.swizzle (local.get 0) (local.get 1)))
  (func (export "shl") (param v128 i32) (result v128) (i32x4.shl (local.get 0) (local.get 1)))
  (func (export "fmin") (param v128 v128) (result v128) (f32x4.min (local.get 0) (local.get 1)))
  (func (export "bitmask") (param v128) (result i32) (i8x16.bitmask (local.get 0)))
  (func (export "local_zero") (result v128) (local v128) (local.get 0))
  (func (export "mul_one") (param v128) (result v128) (f32x4.mul (local.get 0) (v128.const f32x4 1 1 1 1)))
  (func (export "sub_zero") (param v128) (result v128) (local v128) (f32x4.sub (local.get 0) (local.get 1)))
  (func (export "add_neg_zero") (param v128) (result v128) (f64x2.add (local.get 0) (v128.const f64x2 -0 -0)))
  (func (export "div_one") (param v128) (result v128)
    (f64x2.div (local.get 0) (f64x2.convert_low_i32x4_s (i32x4.splat (i32.const 1)))))
  (func (export "mul_one_splat") (param v128) (result v128)
    (f32x4.mul (local.get 0) (i32x4.splat (i32.const 0x3f800000))))
  (func (export "mul_one_loop") (param v128) (result v128) (local $i i32)
    (loop $again
      (local.set 0 (f32x4.mul (local.get 0) (v128.const f32x4 1 1 1 1)))
      (br_if $again (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 3))))
    (local.get 0)))
"""


@pytest.fixture(scope="module")
def program_module(engine, tmp_path_factory):
    if WASM_TOOLS is None:
        pytest.skip("wasm-tools is not installed")
    return engine.compile(assemble(PROGRAM, tmp_path_factory.mktemp("simd")))


@pytest.fixture
def program(engine, program_module):
    """A fresh instance per test: tests write its memory and its global."""
    return engine.instantiate(program_module, {})


def test_v128_arguments_and_results(program):
    add = program.exports["add"]
    (r,) = add.call_raw([lanes32(1, -1, 7, 0x7FFFFFFF), lanes32(2, 1, -8, 1)])
    assert split32(r) == [3, 0, M32, 0x80000000]
    a, b = lanes32(9, 8, 7, 6), (1 << 128) - 1
    r1, r2, r3 = program.exports["mixed"].call_raw([5, a, 0xC05EC00000000000, b])   # -123.0
    assert split32(r1) == [5, 8, 7, 6] and r2 == (-123) & (2**64 - 1) and r3 == b
    assert program.exports["local_zero"].call_raw([]) == [0]


def test_v128_global(program):
    swap = program.exports["swap_global"]
    assert split32(swap.call_raw([lanes32(5, 6, 7, 8)])[0]) == [1, 2, 3, 4]
    assert split32(swap.call_raw([0])[0]) == [5, 6, 7, 8]
    assert program.exports["g"].bits == 0


def test_memory_and_traps_at_the_end_of_memory(program):
    mem = program.exports["mem"]
    store, load = program.exports["store"], program.exports["load"]
    store.call_raw([100, lanes32(0x11223344, 2, 3, 4)])
    assert mem.read(101, 4) == bytes.fromhex("44332211")
    assert split32(load.call_raw([101])[0]) == [0x11223344, 2, 3, 4]
    assert split32(load.call_raw([65536 - 16])[0]) == [0, 0, 0, 0]
    (r,) = program.exports["load_lane"].call_raw([101, lanes32(1, 2, 3, 4)])
    assert split32(r) == [1, 2, 0x11223344, 2]
    for fn, args in ((load, [65536 - 15]), (load, [M32]), (store, [65536 - 16, 0]),
                     (program.exports["load_lane"], [65536 - 7, 0]), (program.exports["drop_load"], [65530]),
                     (program.exports["drop_load8x8"], [65529]), (program.exports["drop_splat"], [65533]),
                     (program.exports["drop_zero"], [65529]), (program.exports["drop_lane"], [65535, 0]),
                     # LLVM would narrow these to a load of the lane they use, or drop it:
                     (program.exports["lane_of_load"], [65536 - 4]), (program.exports["lane_of_load8x8"], [65536 - 4]),
                     (program.exports["other_lane"], [65536 - 2])):
        with pytest.raises(Trap, match="out of bounds memory access"):
            fn.call_raw(args)
    assert mem.read(65536 - 16, 16) == bytes(16)        # the trapping store wrote nothing


def test_lane_semantics(program):
    data = int.from_bytes(bytes(range(100, 116)), "little")
    idx = int.from_bytes(bytes([0, 15, 16, 255, 3, 128, 1, 2] * 2), "little")
    (r,) = program.exports["swizzle"].call_raw([data, idx])
    assert r.to_bytes(16, "little") == bytes([100, 115, 0, 0, 103, 0, 101, 102] * 2)
    (r,) = program.exports["shl"].call_raw([lanes32(1, 2, 3, -1), 33])     # count mod 32
    assert split32(r) == [2, 4, 6, M32 - 1]
    assert program.exports["bitmask"].call_raw([1 << 127 | 1 << 7])[0] == 0x8001


def test_float_min_nan_and_signed_zero(program):
    nan, snan, neg0 = 0x7FC00000, 0x7FA00000, 0x80000000
    (r,) = program.exports["fmin"].call_raw([lanes32(nan, 0, neg0, 0x3F800000), lanes32(0x3F800000, neg0, 0, snan)])
    lanes = split32(r)
    assert lanes[0] & 0x7FC00000 == 0x7FC00000 and lanes[1:3] == [neg0, neg0]
    assert lanes[3] & 0x7FC00000 == 0x7FC00000          # a signalling NaN operand gives a quiet NaN


# --- a real program -------------------------------------------------------------------------

def _zig_available() -> bool:
    return importlib.util.find_spec("ziglang") is not None


@pytest.fixture(scope="module")
def simd_program(tmp_path_factory) -> Path:
    if not _zig_available():
        pytest.skip("ziglang (pip install ziglang) is not installed")
    out = tmp_path_factory.mktemp("zig") / "simd.wasm"
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O2", "-msimd128", "-s",
                    str(REPO / "tests" / "programs" / "simd.c"), "-o", str(out)],
                   check=True, capture_output=True, timeout=600)
    return out


def _wasmtime_stdout(wasm: Path, tmp: Path) -> str:
    return _wasmtime_run(wasm, [], tmp)


@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_c_program_matches_wasmtime(simd_program, opt, tmp_path):
    expected = _wasmtime_stdout(simd_program, tmp_path)
    assert expected.count("\n") > 40
    r = subprocess.run([sys.executable, "-m", "runner.cli", opt, "--no-cache", str(simd_program)],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout == expected


@needs_wasm_tools
def test_invoke_parses_and_prints_v128(tmp_path):
    wasm = tmp_path / "inv.wasm"
    wasm.write_bytes(assemble('(module (func (export "add") (param v128 v128) (result v128) '
                              '(i64x2.add (local.get 0) (local.get 1))))', tmp_path))
    r = subprocess.run([sys.executable, "-m", "runner.cli", "--no-cache", "--invoke", "add", str(wasm),
                        "0x0000000000000001ffffffffffffffff", "1"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == 1 << 64      # the low lane wraps without carrying into the high one
    r = subprocess.run([sys.executable, "-m", "runner.cli", "--no-cache", "--invoke", "add", str(wasm), "1.5", "0"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "cannot parse '1.5' as v128" in r.stderr


# --- the simd spec scripts --------------------------------------------------------------------

_spec = importlib.util.spec_from_file_location("wasirun_spectest", REPO / "scripts" / "spectest.py")
spectest = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, spectest)
_spec.loader.exec_module(spectest)
SIMD_ROOT = spectest.default_root() / "simd"


@pytest.mark.parametrize("opt_level", [0, 2], ids=["O0", "O2"])
def test_simd_spec_scripts(opt_level):
    if not SIMD_ROOT.is_dir():
        pytest.skip(f"no simd spec scripts at {SIMD_ROOT}")
    results = spectest.run_scripts(spectest.collect([str(SIMD_ROOT)]), jobs=2, opt_level=opt_level)
    failures = [f"{r.name}: {r.failures[:3]}" for r in results if r.failed]
    assert not failures, "\n".join(failures)
    assert len(results) == 58
    assert sum(r.passed for r in results) == 25478
    assert sum(r.skipped for r in results) == 510       # text modules (assert_malformed .wat)


@pytest.mark.parametrize("name, shape", [("mul_one", 32), ("sub_zero", 32), ("add_neg_zero", 64), ("div_one", 64),
                                         ("mul_one_splat", 32), ("mul_one_loop", 32)])
def test_identity_operations_quiet_a_signalling_nan(program, name, shape):
    """As the scalar ops (numeric.py): LLVM must not fold x*1, x-0, x+(-0), x/1 to x at -O2,
    which would return a signalling NaN where wasm wants an arithmetic (quiet) one.  The
    constant may be an integer splat, or sit in a loop (numeric.hidden_vector: the hidden load
    is hoisted out of it, and must stay hidden)."""
    snan, quiet = (0x7FA00000, 0x7FC00000) if shape == 32 else (0x7FF4000000000000, 0x7FF8000000000000)
    lanes = 128 // shape
    arg = sum(snan << (shape * i) for i in range(lanes))
    (r,) = program.exports[name].call_raw([arg])
    for i in range(lanes):
        assert (r >> (shape * i)) & quiet == quiet


@needs_wasm_tools
@pytest.mark.parametrize("pshufb", [True, False], ids=["pshufb", "generic"])
def test_swizzle_both_lowerings(pshufb, monkeypatch, tmp_path):
    """x86 with SSSE3 swizzles with one pshufb; elsewhere lane by lane. Both give 0 for lanes >= 16."""
    from runner.translate import simd
    if pshufb and not simd.host_has_pshufb():
        pytest.skip("no SSSE3 on this host")
    monkeypatch.setattr(simd, "host_has_pshufb", lambda: pshufb)
    wasm = assemble('(module (func (export "s") (param v128 v128) (result v128) '
                    '(i8x16.swizzle (local.get 0) (local.get 1))))', tmp_path)
    e = Engine(Config(cache=False, opt_level=2, tiering=False))
    try:
        fn = instantiate(e, wasm).exports["s"]
        data = int.from_bytes(bytes(range(200, 216)), "little")
        idx = bytes([15, 0, 16, 17, 0x7F, 0x80, 0x8F, 0xF0, 0xFF, 1, 2, 3, 31, 14, 13, 112])
        (r,) = fn.call_raw([data, int.from_bytes(idx, "little")])
        assert r.to_bytes(16, "little") == bytes(200 + i if i < 16 else 0 for i in idx)
    finally:
        e.close()


@pytest.mark.parametrize("code, message", [
    (bytes([0xFE, 0x00]), "illegal opcode 0xfe: the threads proposal (atomics) is not supported"),
    (bytes([0x12, 0x00]), "illegal opcode 0x12: the tail-call proposal is not supported"),
])
def test_post_2_0_opcodes_say_unsupported(code, message):
    """With 3.0's features off (as the 2.0 language), a later proposal's opcode names it."""
    body = bytes([0x00]) + code + bytes([0x0B])
    wasm = (b"\0asm\1\0\0\0" + bytes([1, 4, 1, 0x60, 0, 0]) + bytes([3, 2, 1, 0])
            + bytes([10, len(body) + 2, 1, len(body)]) + body)
    with pytest.raises(DecodeError) as e:
        validate(decode(wasm, WASM2))
    assert str(e.value).endswith(message) and e.value.offset == 23


# --- a Rust program: auto-vectorised loops and core::arch::wasm32 intrinsics ------------------

VECTORS_RS = REPO / "tests" / "simd_programs" / "vectors.rs"


@pytest.fixture(scope="module")
def rust_simd_program(tmp_path_factory) -> Path:
    rustc = Path("/usr/bin/rustc")
    if not rustc.exists():
        pytest.skip("Debian's rustc (wasm32-wasi) is not installed")
    out = tmp_path_factory.mktemp("rust-simd") / "vectors.wasm"
    subprocess.run([str(rustc), "--edition", "2021", "--target", "wasm32-wasi", "-O", "-C", "target-feature=+simd128",
                    "-C", "strip=debuginfo", str(VECTORS_RS), "-o", str(out)], check=True, capture_output=True)
    return out


def _wasmtime_run(wasm: Path, args: list[str], tmp: Path) -> str:
    wasmtime = pytest.importorskip("wasmtime")
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    cfg = wasmtime.WasiConfig()
    cfg.argv = [wasm.name, *args]
    out = tmp / "wasmtime.out"
    cfg.stdout_file = str(out)
    store.set_wasi(cfg)
    instance = linker.instantiate(store, wasmtime.Module.from_file(engine, str(wasm)))
    instance.exports(store)["_start"](store)
    return out.read_text()


def test_rust_program_matches_wasmtime(rust_simd_program, tmp_path):
    import shutil
    if shutil.which("wasm-tools"):
        text = subprocess.run(["wasm-tools", "print", str(rust_simd_program)], capture_output=True, text=True).stdout
        # rustc vectorised the loops and kept the intrinsics: swizzle, dot, bitmask are there.
        for name in ("i8x16.swizzle", "i32x4.dot_i16x8_s", "i8x16.bitmask", "f32x4.mul"):
            assert name in text, name
    expected = _wasmtime_run(rust_simd_program, ["40"], tmp_path)
    assert expected.startswith("rounds 40 acc ")
    env = dict(os.environ, WASIRUN_CACHE_DIR=str(tmp_path / "cache"))
    for opts in (["-O0"], [], ["--no-tiering"]):      # first tier only, tiering, top tier only
        r = subprocess.run([sys.executable, "-m", "runner.cli", *opts, str(rust_simd_program), "40"],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        assert r.stdout == expected, opts
