"""Function type ids for ``call_indirect``: a function type's id is a hash of its structure.

The id is a pure function of the type's canonical form (``binary.subtype.canonical``), so
the translator writes the expected id into the code as a constant (no load at the call
site), cached code stays valid in any process, and equivalent types of any two modules get
the same id.  The runtime registers every id it hands out (``register``) and refuses a
second form with an id already taken: a collision would let ``call_indirect`` accept a
function of the wrong type, so it must fail loudly instead (2^-63 per pair of types).
"""
from __future__ import annotations

import hashlib

from .binary.module import FuncType, RefType


def _encode(key, out: list[str]) -> None:
    """A canonical form as text, one spelling per form (no repr: it must never change
    with a dataclass's field list)."""
    if isinstance(key, FuncType):
        out.append("F(")
        for t in key.params:
            _encode(t, out)
        out.append("->")
        for t in key.results:
            _encode(t, out)
        out.append(")")
    elif isinstance(key, RefType):
        out.append(f"R{int(key.nullable)}:{key.heap},")
    elif isinstance(key, bool):
        out.append(f"b{int(key)},")
    elif isinstance(key, int):
        out.append(f"i{key},")
    elif isinstance(key, str):
        out.append(f"s{len(key)}:{key}")
    elif isinstance(key, tuple):
        out.append(f"T{len(key)}(")
        for k in key:
            _encode(k, out)
        out.append(")")
    else:   # pragma: no cover - canonical() builds only the forms above
        raise TypeError(f"not a canonical type form: {key!r}")


def structural_id(key) -> int:
    """The type id of canonical form ``key``: 63 bits of its hash, never 0 (a positive
    i64, so it is the same number in IR, ctypes and Python)."""
    out: list[str] = []
    _encode(key, out)
    h = int.from_bytes(hashlib.blake2b("".join(out).encode(), digest_size=8).digest(), "little")
    return (h >> 1) or 1


class TypeIdCollision(Exception):
    """Two different function types hashed to one id."""


_forms: dict[int, object] = {}   # id -> the canonical form it was handed out for


def register(key) -> int:
    """``structural_id(key)``, remembered; TypeIdCollision if another form has it."""
    tid = structural_id(key)
    seen = _forms.setdefault(tid, key)
    if seen != key:
        raise TypeIdCollision(f"function types {seen} and {key} have the same type id {tid:#x}")
    return tid


def form_of(tid: int):
    """The canonical form registered for id ``tid``, or None."""
    return _forms.get(tid)
