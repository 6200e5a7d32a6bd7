"""The two spec suites the harness runs, and which scripts it runs of them.

* ``2.0``: ``../shared/spectest`` (``$WASIRUN_SPECTEST``), wast2json output, judged against the
  2.0 language (``Features`` WASM2: 3.0 made some of its malformed/invalid modules valid);
  ``simd/`` only with ``--simd``.
* ``3.0``: ``../shared/spectest3`` (``$WASIRUN_SPECTEST3``), ``wasm-tools json-from-wast``
  output, one flat folder per script (SIMD included), judged against 3.0 without GC.  The GC
  proposal's scripts are skipped by name: every command of them counts as skipped.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The GC proposal's scripts in the 3.0 suite (its README: 21 scripts, 879 commands).  ref_null is
# one of them: both of its modules use anyref / nullref.
GC_SCRIPTS = frozenset({
    "struct", "array", "array_copy", "array_fill", "array_init_data", "array_init_elem",
    "array_new_data", "array_new_elem", "i31", "ref_cast", "ref_test", "br_on_cast",
    "br_on_cast_fail", "ref_eq", "extern", "type-canon", "type-equivalence", "type-rec",
    "type-subtyping", "binary-gc", "ref_null",
})

# Feature of a 3.0 script, for the summary: the first pattern that matches its name.
FEATURES: tuple[tuple[str, str], ...] = (
    ("GC (skipped)", "|".join(re.escape(s) for s in sorted(GC_SCRIPTS))),
    ("relaxed SIMD", r"relaxed_.*|.*_relaxed_.*"),
    ("multi-memory", r".*memory-multi|[a-z_]+[0-9]"),
    ("memory64/table64", r"(?![fi]64$).*64(-imports)?"),
    ("SIMD", r"simd_.*"),
    ("exceptions", r"try_table|throw|throw_ref|tag|instance"),
    ("tail calls", r"return_call.*"),
    ("typed function references", r"call_ref|ref_as_non_null|br_on_null|br_on_non_null|local_init|"
                                  r"ref|table-sub|unreached-valid"),
    ("annotations / custom sections", r"custom_.*|annotations"),
    ("core (2.0 scripts, some rewritten)", r".*"),
)


@dataclass(frozen=True)
class Suite:
    name: str            # "2.0" or "3.0"
    root: Path
    wasm3: bool          # judge against the 3.0 language (else exactly 2.0)
    skip_by_name: frozenset = frozenset()
    skip_reason: str = ""

    def skipped(self, path: Path) -> str | None:
        """Why the script is skipped whole, or None."""
        return self.skip_reason if path.stem in self.skip_by_name else None

    def feature(self, path: Path) -> str:
        for feature, pattern in FEATURES if self.wasm3 else ():
            if re.fullmatch(pattern, path.stem):
                return feature
        return "SIMD" if path.stem.startswith("simd_") else "core"

    def collect(self, paths: list[str], simd: bool = False) -> list[Path]:
        """The .json scripts named by ``paths`` (files, or directories searched recursively);
        without paths, the whole suite (for 2.0 without simd/ unless ``simd``)."""
        if not paths:
            paths = [str(self.root)]
        out: list[Path] = []
        for p in map(Path, paths):
            if p.is_file():
                out.append(p)
            elif p.is_dir():
                inside_simd = "simd" in p.resolve().parts
                for f in sorted(p.rglob("*.json")):
                    rel = f.relative_to(p).parts
                    if not self.wasm3 and not (simd or inside_simd) and "simd" in rel[:-1]:
                        continue
                    out.append(f)
            else:
                raise SystemExit(f"spectest: no such file or directory: {p}")
        seen, unique = set(), []
        for f in out:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                unique.append(f)
        return unique


def _root(env: str, folder: str) -> Path:
    value = os.environ.get(env)
    return Path(value) if value else REPO.parent / "shared" / folder


def suite(name: str) -> Suite:
    if name == "2.0":
        return Suite("2.0", _root("WASIRUN_SPECTEST", "spectest"), wasm3=False)
    if name == "3.0":
        return Suite("3.0", _root("WASIRUN_SPECTEST3", "spectest3"), wasm3=True, skip_by_name=GC_SCRIPTS,
                     skip_reason="the GC proposal is not supported (skipped by name)")
    raise ValueError(f"unknown suite {name!r}: use 2.0 or 3.0")


def infer(paths: list[str]) -> str:
    """The suite that paths given without --suite belong to: 3.0 when every one is inside the
    3.0 data, else 2.0 (the default)."""
    root3 = suite("3.0").root.resolve()
    if paths and all(root3 == Path(p).resolve() or root3 in Path(p).resolve().parents for p in paths):
        return "3.0"
    return "2.0"
