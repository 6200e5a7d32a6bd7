"""JIT address -> wasm offset map beside a jitdump, so tools after perf can expand inlined frames.

The jitdump format names each code copy once and can say nothing about the functions rustc
inlined before the wasm existed.  With ``--jitdump -g`` wasirun also writes
``jit-<pid>.wasm-map.jsonl``: a line per module (its path and code section start) and a line
per code copy (name, address, size, native offset -> wasm offset rows).  ``WasmMap.load``
reads it back and ``frames(ip, leaf)`` turns one sampled address into the function and the
functions inlined at that point, outermost first, through the module's DWARF
(runner/sourcemap): what ``scripts/profile.sh --flamegraph`` draws.
"""
from __future__ import annotations

import bisect
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path


_JITTED = re.compile(r"jitted-\d+-(\d+)\.so$")


def map_path(jitdump_path: str | os.PathLike) -> Path:
    p = Path(jitdump_path)
    return p.with_name(p.stem + ".wasm-map.jsonl")


class WasmMapWriter:
    """Appends the map's lines; one per agent (so per jitdump)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file = open(self.path, "w", encoding="utf-8")
        self._modules: dict[int, int] = {}

    def module_index(self, compiled) -> int | None:
        """The map's index for a compiled module, written on first use (None: no file to name)."""
        source = getattr(compiled, "source_path", None)
        if source is None:
            return None
        k = self._modules.get(id(compiled))
        if k is None:
            k = self._modules[id(compiled)] = len(self._modules)
            self._write({"module": k, "path": str(source),
                         "code_section_start": compiled.module.code_section_start})
        return k

    def code(self, module: int, name: str, start: int, size: int, rows, index: int | None) -> None:
        """One code copy; ``index`` is its jitdump code index (perf inject's jitted-<pid>-<index>.so)."""
        self._write({"code": module, "name": name, "start": start, "size": size, "index": index,
                     "rows": [list(r) for r in rows]})

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass
class _Copy:
    start: int
    end: int
    name: str
    module: int
    index: int | None                        # jitdump code index
    offsets: list[int]                       # native offsets, sorted
    wasm: list[int]                          # wasm byte offset of each


@dataclass
class _Module:
    path: str
    code_section_start: int
    source_map: object = None                # sourcemap.ModuleSourceMap, read on first use
    loaded: bool = False


@dataclass
class WasmMap:
    copies: list[_Copy] = field(default_factory=list)
    modules: dict[int, _Module] = field(default_factory=dict)
    by_index: dict[int, _Copy] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "WasmMap":
        m = cls()
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue                 # a line cut off when the run ended
                if "module" in r:
                    m.modules[r["module"]] = _Module(r["path"], r["code_section_start"])
                elif "code" in r:
                    rows = sorted(r["rows"])
                    m.copies.append(_Copy(r["start"], r["start"] + max(r["size"], 1), r["name"], r["code"],
                                          r.get("index"), [a for a, _ in rows], [w for _, w in rows]))
        m.copies.sort(key=lambda c: c.start)
        m.by_index = {c.index: c for c in m.copies if c.index is not None}
        return m

    def frames_in_dso(self, dso: str, offset: int, leaf: bool) -> list[str] | None:
        """Like ``frames`` for what perf script prints for JIT code after ``perf inject --jit``:
        the jitted-<pid>-<index>.so and the offset in its function (``sym+0x…``)."""
        m = _JITTED.search(dso)
        copy = self.by_index.get(int(m.group(1))) if m else None
        if copy is None:
            return None
        return self.frames(copy.start + offset, leaf)

    def frames(self, ip: int, leaf: bool) -> list[str] | None:
        """The function at ``ip`` and what was inlined there, outermost first; None when
        ``ip`` is not in a mapped copy.  A caller's ip is a return address: ``leaf`` False
        looks up the call instruction before it."""
        i = bisect.bisect_right([c.start for c in self.copies], ip) - 1
        if i < 0 or not self.copies[i].start <= ip < self.copies[i].end:
            return None
        copy = self.copies[i]
        native = ip - copy.start - (0 if leaf else 1)
        k = bisect.bisect_right(copy.offsets, native) - 1
        names = [copy.name]
        if k < 0:
            return names
        module = self._module(copy.module)
        if module is None or module.source_map is None:
            return names
        return names + [c.name for c in module.source_map.inlined(copy.wasm[k])]

    def _module(self, index: int) -> _Module | None:
        module = self.modules.get(index)
        if module is not None and not module.loaded:
            module.loaded = True
            try:
                from ..binary.decode import decode
                from ..sourcemap import ModuleSourceMap
                module.source_map = ModuleSourceMap(decode(Path(module.path).read_bytes()))
            except Exception:  # noqa: BLE001 - a moved or broken module costs the inline frames only
                module.source_map = None
        return module
