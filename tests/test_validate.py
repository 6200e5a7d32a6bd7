"""runner.validate: the WebAssembly 2.0 validation algorithm (SIMD in tests/test_simd.py).

* examples/fib.wasm validates, fast enough to run before every compilation;
* the spec testsuite in /work/shared/spectest (not simd_*): every `module` command validates,
  every `assert_invalid` (1477) and every binary `assert_malformed` (719) is rejected by
  decode + validate;
* hand-written cases (wat2wasm, or raw bytes) pin messages, offsets and function indices.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from runner.binary import opcodes as op
from runner.binary.decode import decode, iter_instructions
from runner.binary.features import WASM2
from runner.binary.module import F32, F64, I32, I64, V128
from runner.errors import DecodeError, ValidationError
from runner.validate import MEMORY_SIGS, NUMERIC_SIGS, _Body, _method_name, validate

from .wat import wasm_tools_parse

ROOT = Path(__file__).resolve().parent.parent
SPECTEST = Path("/work/shared/spectest")
C = op.CODE


def check(data: bytes) -> None:
    validate(decode(data, WASM2))     # the 2.0 suite's verdicts are those of the 2.0 language


# --- examples/fib.wasm ----------------------------------------------------------------------

def test_fib_validates():
    """rustc's output validates (its speed is measured by scripts/bench.py, not here)."""
    validate(decode((ROOT / "examples" / "fib.wasm").read_bytes()))


# --- the spec testsuite ---------------------------------------------------------------------

def _spec_jsons() -> list[Path]:
    if not SPECTEST.is_dir():
        return []
    return sorted(p for p in SPECTEST.glob("*/*.json") if not p.parent.name.startswith("simd"))


def _outcome(path: Path):
    try:
        check(path.read_bytes())
    except (DecodeError, ValidationError) as e:
        return e
    return None


@pytest.mark.skipif(not SPECTEST.is_dir(), reason="no spec testsuite at /work/shared/spectest")
@pytest.mark.parametrize("json_path", _spec_jsons(), ids=lambda p: p.parent.name)
def test_spectest(json_path: Path):
    commands = json.loads(json_path.read_text())["commands"]
    failures = []
    for cmd in commands:
        kind = cmd["type"]
        if kind == "module":
            err = _outcome(json_path.parent / cmd["filename"])
            if err is not None:
                failures.append(f"line {cmd['line']}: valid module rejected: {err}")
        elif kind == "assert_invalid" or (kind == "assert_malformed" and cmd["module_type"] == "binary"):
            if _outcome(json_path.parent / cmd["filename"]) is None:
                failures.append(f"line {cmd['line']}: {kind} accepted (expected {cmd['text']!r})")
    assert not failures, "\n".join(failures)


@pytest.mark.skipif(not SPECTEST.is_dir(), reason="no spec testsuite at /work/shared/spectest")
def test_spectest_counts():
    """The whole set is covered: the expected numbers of commands of each kind exist."""
    counts = {"module": 0, "assert_invalid": 0, "assert_malformed": 0}
    for path in _spec_jsons():
        for cmd in json.loads(path.read_text())["commands"]:
            if cmd["type"] in ("module", "assert_invalid") or (
                    cmd["type"] == "assert_malformed" and cmd["module_type"] == "binary"):
                counts[cmd["type"]] += 1
    assert counts == {"module": 1126, "assert_invalid": 1477, "assert_malformed": 719}


# --- stack effects from the opcode table ----------------------------------------------------

def test_numeric_signatures():
    sig = lambda name: NUMERIC_SIGS[C[name]]  # noqa: E731
    assert sig("i32.add") == ([I32, I32], I32)
    assert sig("i64.eqz") == ([I64], I32)
    assert sig("f64.lt") == ([F64, F64], I32)
    assert sig("f32.sqrt") == ([F32], F32)
    assert sig("i64.extend_i32_s") == ([I32], I64)
    assert sig("i64.extend32_s") == ([I64], I64)
    assert sig("i32.wrap_i64") == ([I64], I32)
    assert sig("f32.demote_f64") == ([F64], F32)
    assert sig("i64.reinterpret_f64") == ([F64], I64)
    assert sig("i32.trunc_sat_f64_u") == ([F64], I32)
    assert sig("f64.const") == ([], F64)
    assert MEMORY_SIGS[C["i64.load32_u"]] == ([I32], I64, 2)
    assert MEMORY_SIGS[C["f64.store"]] == ([I32, F64], 0, 3)
    assert MEMORY_SIGS[C["i32.store8"]] == ([I32, I32], 0, 0)
    # Every plain numeric instruction has a signature.
    numeric = [c for c, n, k, *_ in op.OPCODES
               if n.split(".")[0] in ("i32", "i64", "f32", "f64") and k != op.MEMARG]
    scalar = [c for c in NUMERIC_SIGS if not op.is_simd(c)]
    assert len(numeric) == len(scalar) == 4 + (0xC4 - 0x45 + 1) + 8   # consts, 0x45..0xC4, trunc_sat


def test_opcode_table_rows():
    """The rows' stack effects, alignments and lane counts as the table parses them."""
    o = op.OPERATORS
    assert o[C["i32.add"]].pops == (I32, I32) and o[C["i32.add"]].pushes == (I32,)
    assert o[C["i64.store16"]].pops == (op.ADDR, I64) and o[C["i64.store16"]].pushes == ()
    assert o[C["i64.store16"]].access == 2
    assert o[C["v128.load32_lane"]].access == 4 and o[C["v128.load32_lane"]].lanes == 4
    assert o[C["i8x16.shuffle"]].lanes == 32 and o[C["f64x2.extract_lane"]].lanes == 2
    assert o[C["f32x4.relaxed_madd"]].pops == (V128, V128, V128)
    # The rows without a stack effect are exactly those the validator has a method for.
    special = {c for c, row in o.items() if row.pops is None}
    assert len(special) == 48
    assert all(getattr(_Body, _method_name(o[c].name), None) for c in special)


# --- hand-written modules ---------------------------------------------------------------------

wat2wasm = shutil.which("wat2wasm")
needs_wat2wasm = pytest.mark.skipif(wat2wasm is None, reason="wat2wasm (PyPI wabt) not installed")


def wat(text: str, tmp_path: Path, check_: bool = True) -> bytes:
    src = tmp_path / "m.wat"
    out = tmp_path / "m.wasm"
    src.write_text(text)
    args = [wat2wasm, str(src), "-o", str(out)]
    if not check_:
        args.append("--no-check")
    subprocess.run(args, check=True, capture_output=True)
    return out.read_bytes()


def invalid(text: str, tmp_path: Path) -> tuple[ValidationError, bytes]:
    data = wat(text, tmp_path, check_=False)
    with pytest.raises(ValidationError) as info:
        check(data)
    return info.value, data


VALID = [
    # Polymorphic stack after unreachable / br / return.
    "(func (result i32) unreachable i32.add)",
    "(func (result i32) (block (result i32) (br 0 (i32.const 1)) i64.add drop))",
    "(func (param i32) (result f32) (block (result f32) unreachable select))",
    "(func (result i32) unreachable (br_table 0 0))",
    "(func (block (result i32) (block (result f32) unreachable (br_table 0 1 1)) drop (i32.const 0)) drop)",
    # Multi-value blocks with parameters.
    "(func (result i32 i64) (i32.const 1) (i64.const 2) (block (param i32 i64) (result i32 i64)))",
    "(func (result i32) (i32.const 1) (loop (param i32) (result i32) (i32.const 1) i32.add))",
    "(func (result i32) (i32.const 5) (if (param i32) (result i32) (i32.const 1)"
    " (then (i32.const 1) i32.add) (else (i32.const 2) i32.sub)))",
    "(func (i32.const 1) (if (then)))",
    # Typed select on references, ref.is_null, declared ref.func.
    "(func (result funcref) (ref.null func) (ref.func 0) (i32.const 1) (select (result funcref)))"
    " (elem declare func 0)",
    "(func (result i32) (ref.null extern) ref.is_null)",
    # Tables, bulk memory, data count.
    "(table 1 funcref) (memory 1) (data \"x\") (elem func 0)"
    " (func (table.init 0 (i32.const 0) (i32.const 0) (i32.const 0)) (elem.drop 0)"
    "  (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 0)) (data.drop 0)"
    "  (drop (table.grow (ref.null func) (i32.const 1))) (drop (table.size))"
    "  (memory.copy (i32.const 0) (i32.const 0) (i32.const 0)))",
    # Globals: const expr reading an imported immutable global.
    "(global $g (import \"m\" \"g\") i32) (global i32 (global.get $g)) (global (mut i64) (i64.const 0))"
    " (func (global.set 2 (i64.const 1)))",
    "(memory 1 65536) (func (drop (i64.load32_u align=4 (i32.const 0))))",
]


@needs_wat2wasm
@pytest.mark.parametrize("text", VALID)
def test_valid(text: str, tmp_path: Path):
    check(wat(f"(module {text})", tmp_path))


INVALID = [
    # (module text, message prefix, opcode name at the reported offset or None)
    ("(func (result i32) (i64.const 1))", "type mismatch", "end"),
    ("(func (i32.add (i32.const 1) (f32.const 1)) drop)", "type mismatch", "i32.add"),
    ("(func (local.get 3) drop)", "unknown local", "local.get"),
    ("(global i32 (i32.const 0)) (func (global.set 0 (i32.const 1)))", "global is immutable", "global.set"),
    ("(memory 1) (func (drop (i32.load align=8 (i32.const 0))))",
     "alignment must not be larger than natural", "i32.load"),
    ("(func (drop (i32.load (i32.const 0))))", "unknown memory", "i32.load"),
    ("(func (br 1))", "unknown label", "br"),
    ("(func (result i32) (block (result i32) (block (result f32 i32) unreachable (br_table 0 1 (i32.const 0)))))",
     "type mismatch", "br_table"),
    ("(func (param funcref) (drop (select (local.get 0) (local.get 0) (i32.const 1))))",
     "type mismatch", "select"),
    ("(func (drop (ref.func 0)))", "undeclared function reference", "ref.func"),
    ("(table 1 externref) (type $t (func)) (func (call_indirect (type $t) (i32.const 0)))",
     "type mismatch", "call_indirect"),
    ("(func (i32.const 1) (if (result i32) (then (i32.const 1))) drop)", "type mismatch", "end"),
    ("(func (block (i32.const 1)))", "type mismatch", "end"),
    ("(func (drop (ref.is_null (i32.const 0))))", "type mismatch", "ref.is_null"),
    ("(func (result i32) (unreachable) (i64.const 0) (i32.add (i32.const 0)))", "type mismatch", "i32.add"),
]


@needs_wat2wasm
@pytest.mark.parametrize("text,message,at", INVALID)
def test_invalid_function_body(text: str, message: str, at: str | None, tmp_path: Path):
    err, data = invalid(f"(module {text})", tmp_path)
    assert err.message.startswith(message), err.message
    module = decode(data)
    assert err.func_index == len(module.func_types) - 1   # the last function is the bad one
    body = module.bodies[-1]
    codes = {off: code for off, code, _ in iter_instructions(data, body.code_start, body.code_end)}
    assert codes.get(err.offset) == C[at], (err.offset, codes)


MODULE_INVALID = [
    ("(memory 2 1)", "size minimum must not be greater than maximum"),
    ("(memory 65537)", "memory size must be at most 65536 pages"),
    ("(table 2 1 funcref)", "size minimum must not be greater than maximum"),
    ("(memory 1) (memory 1)", "multiple memories"),
    ("(func) (export \"a\" (func 0)) (export \"a\" (func 0))", "duplicate export name"),
    ("(func (param i32)) (start 0)", "start function"),
    ("(global i32 (i32.const 0)) (global i32 (global.get 0))", "unknown global"),
    ("(global $g (import \"m\" \"g\") (mut i32)) (global i32 (global.get $g))",
     "constant expression required"),
    ("(global i64 (i32.const 0))", "type mismatch"),
    ("(table 1 externref) (func) (elem (i32.const 0) func 0)", "type mismatch"),
    ("(table 1 funcref) (elem (i64.const 0) func)", "type mismatch"),
    ("(data (i32.const 0) \"x\")", "unknown memory"),
    ("(global funcref (ref.func 3))", "unknown function"),
]


@needs_wat2wasm
@pytest.mark.parametrize("text,message", MODULE_INVALID)
def test_invalid_module(text: str, message: str, tmp_path: Path):
    err, _ = invalid(f"(module {text})", tmp_path)
    assert err.message.startswith(message), err.message


# Raw bytes: (type [] -> []) (func) with the given body (locals vector included).
def _one_func(body: bytes, extra_sections: bytes = b"") -> bytes:
    code = bytes([1, len(body)]) + body
    return (b"\0asm\1\0\0\0"
            + bytes([1, 4, 1, 0x60, 0, 0])           # type section
            + bytes([3, 2, 1, 0])                    # function section
            + extra_sections
            + bytes([10, len(code)]) + code)         # code section


def test_raw_minimal_function_is_valid():
    check(_one_func(bytes([0, 0x0B])))


def test_instructions_after_final_end_are_malformed():
    with pytest.raises(DecodeError):
        check(_one_func(bytes([0, 0x0B, 0x01])))       # end, then nop


def test_missing_final_end_is_malformed():
    with pytest.raises(DecodeError):
        check(_one_func(bytes([0, 0x02, 0x40, 0x0B])))  # block ... end, no function end


def test_memory_init_requires_data_count_section():
    memory = bytes([5, 3, 1, 0, 1])
    body = bytes([0, 0x41, 0, 0x41, 0, 0x41, 0, 0xFC, 0x08, 0, 0, 0x0B])
    with pytest.raises(DecodeError, match="data count section required"):
        check(_one_func(body, memory))
    with pytest.raises(DecodeError, match="data count section required"):
        check(_one_func(bytes([0, 0xFC, 0x09, 0, 0x0B])))


def test_large_fc_subopcode_is_malformed():
    # 0xFC with subopcode 0xC001 must not alias 0xFC01 (i32.trunc_sat_f32_u).
    with pytest.raises(DecodeError):
        check(_one_func(bytes([0, 0x43, 0, 0, 0, 0, 0xFC, 0x81, 0x80, 0x03, 0x1A, 0x0B])))


def test_function_index_counts_imports():
    data = (b"\0asm\1\0\0\0"
            + bytes([1, 4, 1, 0x60, 0, 0])
            + bytes([2, 7, 1, 1, ord("m"), 1, ord("f"), 0, 0])   # import "m" "f" (func (type 0))
            + bytes([3, 2, 1, 0])
            + bytes([10, 5, 1, 3, 0, 0x1A, 0x0B]))             # drop on an empty stack
    with pytest.raises(ValidationError) as info:
        check(data)
    assert info.value.func_index == 1
    assert info.value.offset == len(data) - 2
    assert info.value.message.startswith("type mismatch")


def test_try_table_resets_the_locals_it_initialised():
    # 3.0: a non-defaultable local set inside a try_table is unset again after its end (this
    # frame once lacked its init height: an IndexError instead of the error).
    data = wasm_tools_parse("""
      (module (type $f (func)) (func $g) (elem declare func $g)
        (func (local (ref $f))
          (try_table (local.set 0 (ref.func $g)))
          (local.get 0) (drop)))""")
    with pytest.raises(ValidationError) as info:
        validate(decode(data))
    assert info.value.message == "uninitialized local" and info.value.func_index == 1
    assert data[info.value.offset] == 0x20                 # at the local.get


def _module_of_bodies(bodies: list[bytes]) -> bytes:
    """A module of functions () -> () with these bodies (locals and code)."""
    n = len(bodies)
    code = bytes([n]) + b"".join(bytes([len(b)]) + b for b in bodies)
    return (b"\0asm\1\0\0\0" + bytes([1, 4, 1, 0x60, 0, 0]) + bytes([3, n + 1, n] + [0] * n)
            + bytes([10, len(code)]) + code)


def test_decode_and_validate_raise_their_own_errors():
    from runner.errors import ModuleError
    # A global initialised by a non-constant instruction decodes; validation rejects it.
    data = wasm_tools_parse("(module (global i32 (i32.const 1)) (global i32 (i32.const 1) (i32.const 2) (drop)))")
    m = decode(data, WASM2)
    with pytest.raises(ValidationError) as info:
        validate(m)
    assert info.value.message == "constant expression required" and data[info.value.offset] == 0x1A
    data = wasm_tools_parse("(module (global i32 (i32.const 1) (i32.const 2)))")
    with pytest.raises(ValidationError, match="exactly one value"):
        validate(decode(data, WASM2))
    # A body's format errors are the decoder's, met while validate walks the body.
    with pytest.raises(DecodeError) as bad:
        validate(decode(_module_of_bodies([bytes([0, 0x0B, 0x01])])))
    assert isinstance(bad.value, ModuleError) and isinstance(info.value, ModuleError)
    assert not isinstance(bad.value, ValidationError) and not isinstance(info.value, DecodeError)


def test_parallel_validation_keeps_the_error_class(monkeypatch):
    """Bodies validated in a worker process report a malformed body as a DecodeError and an
    invalid one as a ValidationError, as in one process (a DecodeError once became an
    internal CompileError)."""
    from runner.api import Config, Engine
    monkeypatch.setattr(Engine, "PARALLEL_VALIDATE_BYTES", 0)
    engine = Engine(Config(jobs=2, cache=False))
    ok = [bytes([0, 0x0B])] * 11
    with pytest.raises(DecodeError) as bad:
        engine.compile(_module_of_bodies(ok + [bytes([0, 0x0B, 0x01])]))    # a nop after the end
    assert "instructions after the function's final end" in bad.value.message
    with pytest.raises(ValidationError) as invalid:
        engine.compile(_module_of_bodies(ok + [bytes([0, 0x1A, 0x0B])]))    # drop on an empty stack
    assert invalid.value.func_index == 11 and invalid.value.message.startswith("type mismatch")
