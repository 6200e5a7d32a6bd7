"""Typed function references: subtyping, call_ref & co., non-nullable locals, typed tables with
initialisers, and the link-time type checks with type indices compared by equivalence."""
from __future__ import annotations

import pytest

from runner.api import Config, Engine
from runner.binary.decode import decode
from runner.binary.module import (EXTERNREF, FUNCREF, HT_EXN, HT_EXTERN, HT_FUNC, HT_NOEXN, HT_NOEXTERN,
                                  HT_NOFUNC, I32, I64, RefType)
from runner.binary.subtype import HT_BOT, canonical, matches
from runner.errors import LinkError, Trap, ValidationError
from runner.validate import validate

from .test_tail_calls import wat


def _module(types):
    """A decoded module with just these function types (for the subtype checks)."""
    text = "(module " + " ".join(f"(type {t})" for t in types) + ")"
    return decode(wat(text))


def test_heap_hierarchies():
    m = _module(["$a (func)", "$b (func (param i32))", "$a2 (func)"])
    ref, null = (lambda h: RefType(False, h)), (lambda h: RefType(True, h))
    assert matches(ref(0), FUNCREF, m) and matches(null(0), FUNCREF, m)
    assert matches(ref(0), ref(HT_FUNC), m) and not matches(null(0), ref(HT_FUNC), m)
    assert matches(null(HT_NOFUNC), null(1), m) and matches(ref(HT_NOFUNC), ref(0), m)
    assert not matches(FUNCREF, null(0), m)
    assert matches(ref(0), ref(2), m) and matches(ref(2), null(0), m)     # equivalent types
    assert not matches(ref(0), ref(1), m)
    assert matches(null(HT_NOEXTERN), EXTERNREF, m) and not matches(null(HT_NOEXTERN), FUNCREF, m)
    assert matches(null(HT_NOEXN), null(HT_EXN), m) and not matches(null(HT_EXN), null(HT_EXTERN), m)
    assert not matches(null(HT_NOFUNC), EXTERNREF, m) and not matches(EXTERNREF, FUNCREF, m)
    assert matches(ref(HT_BOT), ref(1), m) and not matches(ref(HT_BOT), I32, m)
    assert matches(I32, I32, m) and not matches(I32, I64, m) and not matches(FUNCREF, I32, m)


def test_type_equivalence_follows_the_indices():
    """$c and $d mention different but equivalent types: they are the same type; a module with the
    types in another order canonicalises them the same."""
    m1 = _module(["$a (func (param i32))", "$b (func (param i32))", "$c (func (param (ref $a)))",
                  "$d (func (param (ref $b)))", "$e (func (param (ref null $a)))"])
    assert canonical(m1, 2) == canonical(m1, 3) != canonical(m1, 4)
    m3 = _module(["$z (func)", "$y (func (param i32))", "$x (func (param (ref $y)))"])
    assert canonical(m1, 2) == canonical(m3, 2)


FUNCS = """
(module
  (type $ii (func (param i32) (result i32)))
  (table $t 3 (ref $ii) (ref.func $inc))
  (elem declare func $dbl)
  (func $inc (type $ii) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $ii) (i32.mul (local.get 0) (i32.const 2)))

  (func (export "call_ref") (param $x i32) (param $which i32) (result i32)
    (call_ref $ii (local.get $x)
      (if (result (ref $ii)) (local.get $which) (then (ref.func $dbl)) (else (table.get $t (i32.const 2))))))
  (func (export "call_null") (result i32)
    (call_ref $ii (i32.const 1) (ref.null $ii)))
  (func (export "as_non_null") (param $null i32) (result i32)
    (ref.is_null (ref.as_non_null (select (result (ref null $ii)) (ref.null $ii) (ref.func $inc) (local.get $null)))))
  (func (export "slots") (result i32)
    ;; every slot got the initialiser: call them through call_indirect
    (i32.add (i32.add (call_indirect $t (type $ii) (i32.const 10) (i32.const 0))
                      (call_indirect $t (type $ii) (i32.const 20) (i32.const 1)))
             (call_indirect $t (type $ii) (i32.const 30) (i32.const 2))))
  (func (export "on_null") (param $null i32) (result i32)
    (block $is_null
      (return (call_ref $ii (i32.const 5)
        (br_on_null $is_null (select (result (ref null $ii)) (ref.null $ii) (ref.func $dbl) (local.get $null))))))
    (i32.const -1))
  (func (export "on_non_null") (param $null i32) (result i32)
    (call_ref $ii (i32.const 7)
      (block $nonnull (result (ref $ii))
        (br_on_non_null $nonnull (select (result (ref null $ii)) (ref.null $ii) (ref.func $dbl) (local.get $null)))
        (return (i32.const -2)))))
  (func (export "local") (param $x i32) (result i32)
    (local $f (ref $ii))
    (local.set $f (ref.func $dbl))
    (call_ref $ii (local.get $x) (local.get $f)))
)"""


@pytest.mark.parametrize("config", [dict(opt_level=0), dict(tiering=False)], ids=["base", "top"])
def test_typed_function_references(config, tmp_path, monkeypatch):
    monkeypatch.setenv("WASIRUN_CACHE_DIR", str(tmp_path))
    engine = Engine(Config(**config))
    inst = engine.instantiate(engine.compile(wat(FUNCS)))
    e = inst.exports
    assert e["call_ref"](5, 1) == 10 and e["call_ref"](5, 0) == 6
    with pytest.raises(Trap, match="null function reference"):
        e["call_null"]()
    assert e["as_non_null"](0) == 0
    with pytest.raises(Trap, match="null reference"):
        e["as_non_null"](1)
    assert e["slots"]() == 63
    assert e["on_null"](0) == 10 and e["on_null"](1) == -1
    assert e["on_non_null"](0) == 14 and e["on_non_null"](1) == -2
    assert e["local"](21) == 42


@pytest.mark.parametrize("body, ok", [
    ("(local.set $f (ref.func $g)) (drop (local.get $f))", True),
    ("(drop (local.get $f))", False),
    # set inside a block: uninitialised again after its end
    ("(block (local.set $f (ref.func $g))) (drop (local.get $f))", False),
    ("(block (local.set $f (ref.func $g)) (drop (local.get $f)))", True),
    # the else branch does not see what the then branch set
    ("(if (i32.const 1) (then (local.set $f (ref.func $g))) (else (drop (local.get $f))))", False),
    ("(local.set $f (ref.func $g)) (if (i32.const 1) (then (drop (local.get $f))))", True),
    # a nullable local is defaultable
    ("(drop (local.get $n))", True),
])
def test_non_nullable_locals_must_be_set_first(body, ok):
    text = f"""(module (type $t (func)) (elem declare func $g) (func $g)
                 (func (local $f (ref $t)) (local $n (ref null $t)) {body}))"""
    m = decode(wat(text))
    if ok:
        validate(m)
    else:
        with pytest.raises(ValidationError, match="uninitialized local"):
            validate(m)


@pytest.mark.parametrize("text, message", [
    ("(module (type $t (func)) (table 1 (ref $t)))", "type mismatch"),                       # no initialiser
    ("(module (type $t (func)) (func (param funcref) (call_ref $t (local.get 0))))", "type mismatch"),
    ("(module (type $t (func)) (type $u (func (param i32))) (elem declare func $f) (func $f)"
     " (func (call_ref $u (i32.const 0) (ref.func $f))))", "type mismatch"),
    ("(module (func (result i32) (return_call $f)) (func $f))", "type mismatch"),             # results differ
    ("(module (func (br_on_non_null 0 (ref.null func))))", "type mismatch"),                  # label takes no ref
    ("(module (func (result i32) (ref.as_non_null (unreachable)) (i32.const 1) (i32.add)))", "type mismatch"),
])
def test_invalid_typed_reference_code(text, message):
    with pytest.raises(ValidationError, match=message):
        validate(decode(wat(text)))


EXPORTER = """
(module
  (type $i (func (param i32) (result i32)))
  (type $takes (func (param (ref $i)) (result i32)))
  (func $seven (type $i) (i32.const 7))
  (func (export "apply") (type $takes) (call_ref $i (i32.const 0) (local.get 0)))
  (global (export "g") (ref $i) (ref.func $seven))
  (global (export "gm") (mut (ref null $i)) (ref.null $i))
  (table (export "tab") 2 (ref null $i))
  (elem (table 0) (i32.const 0) (ref null $i) (ref.func $seven))
)"""


def test_imports_compare_type_indices_by_equivalence(tmp_path, monkeypatch):
    monkeypatch.setenv("WASIRUN_CACHE_DIR", str(tmp_path))
    engine = Engine(Config(opt_level=0))
    ex = engine.instantiate(engine.compile(wat(EXPORTER)))
    imports = {("m", n): ex.exports[n] for n in ("apply", "g", "gm", "tab")}
    # The same types at other indices, and an immutable global imported at a supertype.  (A
    # type may only name earlier types: without rec groups a forward reference is invalid.)
    importer = """
    (module
      (type $pad (func (param f64)))
      (type $i (func (param i32) (result i32)))
      (type $takes (func (param (ref $i)) (result i32)))
      (import "m" "apply" (func $apply (type $takes)))
      (import "m" "g" (global $g (ref null func)))
      (import "m" "gm" (global $gm (mut (ref null $i))))
      (import "m" "tab" (table $tab 2 (ref null $i)))
      (func (export "run") (result i32)
        (i32.add (call_indirect $tab (type $i) (i32.const 0) (i32.const 0))
                 (call $apply (ref.as_non_null (table.get $tab (i32.const 0)))))))"""
    inst = engine.instantiate(engine.compile(wat(importer)), imports)
    assert inst.exports["run"]() == 14
    bad = [
        '(import "m" "apply" (func (param (ref null $i)) (result i32)))',    # nullable parameter: another type
        '(import "m" "gm" (global (mut (ref null func))))',                  # mutable: must be equal
        '(import "m" "tab" (table 2 funcref))',                              # tables: equal element types
        '(import "m" "g" (global (ref $pad)))',
    ]
    for imp in bad:
        text = f'(module (type $pad (func (param f64))) (type $i (func (param i32) (result i32))) {imp})'
        with pytest.raises(LinkError, match="incompatible import type"):
            engine.instantiate(engine.compile(wat(text)), imports)


SUBTYPED = """
(module
  (type $t (func))
  (global $g (mut funcref) (ref.null func))
  (table $tab 1 funcref)
  (elem declare func $f)
  (func $f)
  (func $takes (param funcref) (param (ref null $t)))
  (func (export "run") (result funcref)
    (call $takes (ref.func $f) (ref.null nofunc))
    (global.set $g (ref.func $f))
    (table.set $tab (i32.const 0) (ref.func $f))
    (drop (block (result (ref null func)) (ref.func $f)))
    (drop (select (result funcref) (ref.func $f) (ref.null nofunc) (i32.const 1)))
    (drop (block $outer (result funcref)
      (block $inner (result (ref null $t))
        (br_table $inner $outer (ref.func $f) (i32.const 0)))))
    (ref.func $f))
)"""


def test_subtypes_are_accepted_where_the_supertype_is_expected():
    validate(decode(wat(SUBTYPED)))


@pytest.mark.parametrize("instr", [
    "(call $takes (ref.func $f) (ref.null func))",           # funcref is not a (ref null $t)
    "(call $takes (ref.null extern) (ref.null $t))",         # other hierarchy
    "(drop (block (result (ref $t)) (ref.null $t)))",          # nullable is not non-nullable
    "(global.set $g (ref.null extern))",
])
def test_supertypes_are_refused_where_a_subtype_is_expected(instr):
    text = SUBTYPED.replace("(call $takes (ref.func $f) (ref.null nofunc))", instr)
    with pytest.raises(ValidationError, match="type mismatch"):
        validate(decode(wat(text)))
