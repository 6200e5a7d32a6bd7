"""Instantiation step 1: resolve a module's imports and check them against its import types
(LinkError in wasmtime's wording), with the spec's subtyping rules."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..binary.module import KIND_FUNC, KIND_GLOBAL, KIND_MEMORY, KIND_TABLE, KIND_TAG, Limits, Module
from ..binary.subtype import canonical, equivalent, matches
from ..errors import LinkError
from .exceptions import Tag
from .functions import Function
from .store import GlobalCell, Memory, Table

Extern = Any  # Function | Memory | Table | GlobalCell | Tag


@dataclass
class ImportedExterns:
    """The imported externs of each kind, in import order (each kind's index space starts here)."""
    functions: list[Function] = field(default_factory=list)
    memories: list[Memory] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    globals: list[GlobalCell] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)


def resolve_imports(m: Module, imports: Callable[[str, str], Extern | None]) -> ImportedExterns:
    """Look up every import of ``m`` with ``imports(module, name)`` and type-check it."""
    got = ImportedExterns()
    for imp in m.imports:
        ext = imports(imp.module, imp.name)
        what = f"{imp.module}::{imp.name}"
        if ext is None:
            raise LinkError(f"unknown import: `{what}` has not been defined")
        if imp.kind == KIND_FUNC:
            want = m.types[imp.desc]
            if not isinstance(ext, Function) or ext.type_key != canonical(m, imp.desc):
                have = ext.type if isinstance(ext, Function) else kind_of(ext)
                raise LinkError(f"incompatible import type for `{what}`: expected func of type {want}, found {have}")
            got.functions.append(ext)
        elif imp.kind == KIND_MEMORY:
            if (not isinstance(ext, Memory) or ext.type.is64 != imp.desc.is64
                    or not _limits_match(ext.pages, ext.type.limits.max, imp.desc.limits)):
                raise LinkError(f"incompatible import type for `{what}`: memory limits or kind do not match")
            got.memories.append(ext)
        elif imp.kind == KIND_TABLE:
            if (not isinstance(ext, Table) or ext.type.is64 != imp.desc.is64
                    or not equivalent(ext.type.elem_type, ext.type_module, imp.desc.elem_type, m)
                    or not _limits_match(ext.size, ext.type.limits.max, imp.desc.limits)):
                raise LinkError(f"incompatible import type for `{what}`: table type or limits do not match")
            got.tables.append(ext)
        elif imp.kind == KIND_GLOBAL:
            if not isinstance(ext, GlobalCell) or not _global_matches(ext, imp.desc, m):
                raise LinkError(f"incompatible import type for `{what}`: global type or mutability does not match")
            got.globals.append(ext)
        elif imp.kind == KIND_TAG:
            want = m.types[imp.desc]
            if not isinstance(ext, Tag) or ext.type_key != canonical(m, imp.desc):
                have = ext.type if isinstance(ext, Tag) else kind_of(ext)
                raise LinkError(f"incompatible import type for `{what}`: expected tag of type {want}, found {have}")
            if not ext.name:   # a Tag made by the embedder: messages name it by this import
                ext.name = f"`{imp.module}::{imp.name}`"
            got.tags.append(ext)
    return got


def _global_matches(ext: GlobalCell, want, m) -> bool:
    """An imported global's type: the same mutability; a mutable one the same value type, an
    immutable one a subtype (3.0)."""
    have = ext.type
    if have.mutable != want.mutable:
        return False
    if have.mutable:
        return equivalent(have.val_type, ext.type_module, want.val_type, m)
    return matches(have.val_type, want.val_type, ext.type_module, m)


def kind_of(ext) -> str:
    """An extern's kind as the LinkError messages name it."""
    for cls, name in ((Memory, "memory"), (Table, "table"), (GlobalCell, "global"), (Function, "func"), (Tag, "tag")):
        if isinstance(ext, cls):
            return name
    return type(ext).__name__


def _limits_match(cur_min: int, cur_max: int | None, want: Limits) -> bool:
    if cur_min < want.min:
        return False
    if want.max is None:
        return True
    return cur_max is not None and cur_max <= want.max
