"""Subtyping and type equivalence of WebAssembly 3.0 value types (without GC).

``matches(actual, expected, module)`` is the spec's ``actual <: expected`` for value
types: numeric and vector types match only themselves; a reference type
``(ref null? h1)`` matches ``(ref null? h2)`` when nullability allows it (a
nullable type never matches a non-nullable one) and ``h1 <: h2`` in the heap
hierarchies::

    nofunc <: $t (a function type index) <: func
    noextern <: extern
    noexn <: exn

Without GC's ``rec``/``sub`` every type definition is its own final recursion
group with no declared supertype, so two type indices match exactly when they
are *equivalent*: structurally equal once the indices they mention are
canonicalised.  ``canonical(module, index)`` is that canonical form, a hashable
value independent of the module (also what the runtime's type ids are made of,
so ``call_indirect`` and imports compare signatures across modules correctly).

``UNKNOWN`` (0, the validator's bottom type of unreachable code) matches
everything.  The validator's hot paths compare with ``==`` first and call
``matches`` only when that fails, so the common exact case costs nothing.
"""
from __future__ import annotations

from .module import (HT_EXN, HT_EXTERN, HT_FUNC, HT_NOEXN, HT_NOEXTERN, HT_NOFUNC, FuncType, Module, RefType)

__all__ = ["matches", "matches_all", "heap_matches", "canonical", "canonical_functype", "types_equivalent",
           "top_heap", "equivalent", "UNKNOWN", "HT_BOT"]

UNKNOWN = 0
# The heap type of ``(ref bot)``: what ref.as_non_null & co. push for an unknown operand in
# unreachable code (a non-null reference below every heap type, but not a number).
HT_BOT = -0x1000

# Each abstract heap type's hierarchy: its top, and whether it is the bottom.
_TOP = {HT_FUNC: HT_FUNC, HT_NOFUNC: HT_FUNC, HT_EXTERN: HT_EXTERN, HT_NOEXTERN: HT_EXTERN,
        HT_EXN: HT_EXN, HT_NOEXN: HT_EXN}
_BOTTOM = {HT_NOFUNC: HT_FUNC, HT_NOEXTERN: HT_EXTERN, HT_NOEXN: HT_EXN}   # bottom -> its top


def top_heap(heap: int) -> int:
    """The top of ``heap``'s hierarchy (func for a type index)."""
    return HT_FUNC if heap >= 0 else _TOP[heap]


def heap_matches(actual: int, expected: int, module: Module | None, expected_module: Module | None = None) -> bool:
    """``actual <: expected`` for heap types; type indices refer to ``module`` (and, for
    ``expected``, to ``expected_module`` when given: an import checked against an export)."""
    em = module if expected_module is None else expected_module
    if actual == expected and em is module:
        return True
    if actual == HT_BOT:
        return True
    if actual >= 0:
        if expected >= 0:
            return types_equivalent(module, actual, em, expected)
        return expected == HT_FUNC
    top = _BOTTOM.get(actual)
    if top is None:                     # func, extern, exn: only themselves
        return actual == expected
    if expected >= 0:                   # nofunc <: every function type
        return top == HT_FUNC
    return _TOP.get(expected) == top    # a bottom type is below everything of its hierarchy


def matches(actual, expected, module: Module | None, expected_module: Module | None = None) -> bool:
    """``actual <: expected`` for value types (ints for numeric types, ``RefType`` for
    references, ``UNKNOWN`` for the bottom type)."""
    if actual == UNKNOWN or expected == UNKNOWN:
        return True
    if actual == expected and (expected_module is None or expected_module is module
                               or not isinstance(actual, RefType) or actual.heap < 0):
        return True
    if isinstance(actual, RefType) and isinstance(expected, RefType):
        if actual.nullable and not expected.nullable:
            return False
        return heap_matches(actual.heap, expected.heap, module, expected_module)
    return False


def matches_all(actual, expected, module: Module | None, expected_module: Module | None = None) -> bool:
    """Pointwise ``matches`` of two result types (sequences of value types)."""
    if len(actual) != len(expected):
        return False
    return all(matches(a, e, module, expected_module) for a, e in zip(actual, expected))


def equivalent(t1, m1: Module | None, t2, m2: Module | None) -> bool:
    """Whether two value types (of two modules) are the same type: mutable globals and
    tables must match both ways."""
    return matches(t1, t2, m1, m2) and matches(t2, t1, m2, m1)


# --- type equivalence ------------------------------------------------------------------------

def _cache(module: Module) -> dict:
    c = module.__dict__.get("_canonical_types")
    if c is None:
        c = module.__dict__["_canonical_types"] = {}
    return c


def _canon_value(t, module: Module, inside: int):
    if isinstance(t, RefType) and t.heap >= 0:
        if t.heap == inside:            # a self-reference of its own (singleton) recursion group
            return ("ref", t.nullable, ("rec", 0))
        return ("ref", t.nullable, canonical(module, t.heap))
    return t


def canonical(module: Module, index: int):
    """Type ``index`` of ``module`` in a module-independent canonical form."""
    cache = _cache(module)
    key = cache.get(index)
    if key is None:
        if index in cache:   # pragma: no cover - cycles are rejected by the validator first
            raise ValueError(f"recursive type {index}")
        cache[index] = None
        key = cache[index] = canonical_functype(module.types[index], module, index)
    return key


def canonical_functype(ft: FuncType, module: Module | None, inside: int = -1):
    """A function type's canonical form: its value types with type indices canonicalised.
    A type without indexed references (every host function's) is its own ``FuncType``."""
    if not any(isinstance(t, RefType) and t.heap >= 0 for t in ft.params + ft.results):
        return ft
    return ("func", tuple(_canon_value(t, module, inside) for t in ft.params),
            tuple(_canon_value(t, module, inside) for t in ft.results))


def types_equivalent(m1: Module, i1: int, m2: Module, i2: int) -> bool:
    """Whether type ``i1`` of ``m1`` and type ``i2`` of ``m2`` are the same type."""
    if m1 is m2 and i1 == i2:
        return True
    return canonical(m1, i1) == canonical(m2, i2)
