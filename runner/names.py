"""Readable names for wasm functions, as perf and trap backtraces show them.

Names come from the wasm ``name`` section, which for rustc output holds the
mangled linker names.  ``demangle`` turns them into ``fib::fib``:

* an LLVM ThinLTO suffix ``.llvm.<hash>`` is dropped first (it is not part of
  any mangling scheme, and ``__cxa_demangle`` rejects names carrying it);
* rustc's legacy scheme ``_ZN<len><ident>...17h<16 hex>E`` is decoded here,
  without the hash, because ``__cxa_demangle`` keeps both the hash and the
  ``$LT$``-style escapes;
* rustc's v0 scheme ``_R...`` goes through the optional ``pyderust`` package
  when it is installed, and otherwise stays raw;
* other ``_Z`` names are C++ and go through ``cxxfilt``;
* anything else (C names such as ``dlmalloc``) is returned unchanged.
"""
from __future__ import annotations

import re

_LIBRARIES: dict[str, object] = {}


def _library(name: str):
    """An optional demangling library, imported on first use (cxxfilt alone costs ~8 ms of start-up):
    pyderust (the rustc-demangle crate, for v0 names) and cxxfilt (C++)."""
    if name not in _LIBRARIES:
        try:
            _LIBRARIES[name] = __import__(name)
        except ImportError:  # pragma: no cover - depends on the environment
            _LIBRARIES[name] = None
    return _LIBRARIES[name]

__all__ = ["demangle", "display_name"]

_LLVM_SUFFIX = re.compile(r"\.llvm\.[0-9A-Fa-f@]+$")
_RUST_HASH = re.compile(r"h[0-9a-f]{16}")
_ESCAPES = {
    "SP": "@", "BP": "*", "RF": "&", "LT": "<", "GT": ">",
    "LP": "(", "RP": ")", "C": ",",
}
_ESCAPE = re.compile(r"\$([A-Za-z]+|u[0-9a-f]{1,6})\$")


def demangle(raw: str) -> str:
    """Return the human-readable form of a symbol name; never raises."""
    try:
        name = _LLVM_SUFFIX.sub("", raw)
        if name.startswith("_ZN"):
            rust = _demangle_rust_legacy(name)
            if rust is not None:
                return rust
        if name.startswith("_R") and _library("pyderust") is not None:
            try:
                return _library("pyderust").demangle(name)
            except ValueError:
                return name
        if name.startswith("_Z") and _library("cxxfilt") is not None:
            try:
                return _library("cxxfilt").demangle(name)
            except Exception:  # cxxfilt.InvalidName, or anything odd from libstdc++
                return name
        return name
    except Exception:  # a name is cosmetic: never let it break a run
        return raw if isinstance(raw, str) else repr(raw)


def display_name(func_index: int, raw: str | None) -> str:
    """Name to show for wasm function *func_index*: demangled, or ``wasm-function[N]``."""
    if not raw:
        return f"wasm-function[{func_index}]"
    return demangle(raw) or f"wasm-function[{func_index}]"


def _demangle_rust_legacy(name: str) -> str | None:
    """Decode ``_ZN(<len><ident>)+E``; None unless it ends in a Rust hash."""
    parts: list[str] = []
    pos = 3
    while pos < len(name) and name[pos] != "E":
        digits = pos
        while pos < len(name) and name[pos] in "0123456789":
            pos += 1
        if digits == pos or name[digits] == "0":
            return None
        length = int(name[digits:pos])
        ident = name[pos:pos + length]
        if len(ident) != length:
            return None
        parts.append(ident)
        pos += length
    # Exactly one trailing "E"; a hash as last component is what tells Rust from C++.
    if pos != len(name) - 1 or len(parts) < 2 or not _RUST_HASH.fullmatch(parts[-1]):
        return None
    return "::".join(_unescape(p) for p in parts[:-1])


def _unescape(ident: str) -> str:
    # A leading "_$" exists only to make the identifier start with a valid symbol char.
    if ident.startswith("_$"):
        ident = ident[1:]
    return _ESCAPE.sub(_escape_char, ident.replace("..", "::"))


def _escape_char(m: re.Match) -> str:
    code = m.group(1)
    if code in _ESCAPES:
        return _ESCAPES[code]
    if code[0] == "u" and code[1:] and all(c in "0123456789abcdef" for c in code[1:]):
        return chr(int(code[1:], 16))
    return m.group(0)  # unknown escape: keep it visible rather than guess
