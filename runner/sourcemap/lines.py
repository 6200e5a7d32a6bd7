"""Source lines for wasm code offsets, from the module's DWARF custom sections.

DWARF addresses in wasm are offsets from the start of the Code section
contents (``Module.code_section_start``). The linker marks code it dropped
with tombstone addresses at or past the end of the code; those sequences
and ranges are ignored.

Decoding line programs with pyelftools is slow (about 1.5 s for all of
``examples/fib-g.wasm``), so each compile unit's line table is decoded on
first use, and both the unit index and the decoded tables are kept in an
on-disk cache keyed by a hash of the debug sections.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import posixpath
import tempfile
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path

from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DWARFInfo, DwarfConfig
from elftools.dwarf.ranges import BaseAddressEntry

from ..binary.module import Module

_CACHE_FORMAT = b"wasirun-dwarf-1"

# DWARFInfo keyword argument -> custom section name. pyelftools requires them all.
_SECTIONS = {
    f"{name}_sec": f".{name}"
    for name in (
        "debug_info", "debug_aranges", "debug_abbrev", "debug_frame", "eh_frame",
        "debug_str", "debug_loc", "debug_ranges", "debug_line", "debug_pubtypes",
        "debug_pubnames", "debug_addr", "debug_str_offsets", "debug_line_str",
        "debug_loclists", "debug_rnglists", "debug_sup", "gnu_debugaltlink", "debug_types",
    )
}


@dataclass(frozen=True)
class SourceLoc:
    file: str
    line: int
    column: int = 0


# One compile unit's rows: sorted addresses and, per address, (file, line, column),
# or None where a sequence ends.
_Row = tuple[str, int, int] | None
_Table = tuple[list[int], list[_Row]]


def default_cache_dir() -> Path:
    from ..codecache import cache_root   # the same root as compiled code (WASIRUN_CACHE_DIR)
    return cache_root()


class WasmLineMap:
    """Maps code offsets to source locations through the DWARF line tables.

    Rows with line 0 (code LLVM could not attribute to one line) are dropped,
    so such code reports the line of the row before it.
    """

    def __init__(self, sections: dict[str, tuple[int, bytes]], code_size: int,
                 cache_dir: Path | None):
        self._sections = sections          # custom section name -> (file offset, payload)
        self._code_size = code_size
        self._cache_dir = cache_dir
        self._dwarf: DWARFInfo | None = None
        self._tables: dict[int, _Table] = {}   # by compile unit offset
        index = self._load("index")
        if index is None:
            index = self._build_index()
            self._store("index", index)
        self._starts, self._ends, self._units = index

    @classmethod
    def from_module(cls, module: Module, *, cache: bool = True,
                    cache_dir: Path | None = None) -> WasmLineMap | None:
        """The module's line map, or None if it lacks ``.debug_line`` or ``.debug_info``.

        With ``cache``, decoded tables are kept under ``cache_dir``
        (default: ``$XDG_CACHE_HOME/wasirun`` or ``~/.cache/wasirun``).
        """
        sections = {c.name: (c.payload_offset, c.payload) for c in module.customs
                    if c.name in _SECTIONS.values()}
        if ".debug_line" not in sections or ".debug_info" not in sections:
            return None
        code_size = max((b.code_end for b in module.bodies), default=module.code_section_start) \
            - module.code_section_start
        directory = None
        if cache:
            digest = hashlib.sha256(_CACHE_FORMAT)
            digest.update(code_size.to_bytes(8, "little"))
            for name in sorted(sections):
                payload = sections[name][1]
                digest.update(b"%s:%d:" % (name.encode(), len(payload)))
                digest.update(payload)
            directory = Path(cache_dir or default_cache_dir()) / "dwarf" / digest.hexdigest()
        return cls(sections, code_size, directory)

    # -- queries ---------------------------------------------------------------

    def lookup(self, code_offset: int) -> SourceLoc | None:
        """The source location of the row whose address range holds ``code_offset``."""
        unit = self._unit_at(code_offset)
        if unit is None:
            return None
        addrs, rows = self._table(unit)
        i = bisect_right(addrs, code_offset) - 1
        row = rows[i] if i >= 0 else None
        return SourceLoc(*row) if row else None

    def rows_in(self, start: int, end: int) -> list[tuple[int, SourceLoc]]:
        """The rows covering ``[start, end)``, as (code offset, location), by address.

        The row in effect at ``start`` is reported at ``start`` even if it
        begins earlier (a function's first row is at its locals, before its
        first instruction); a row equal to the one before it is left out.
        """
        units = {self._units[i] for i in range(bisect_right(self._ends, start),
                                                bisect_left(self._starts, end))}
        result: list[tuple[int, SourceLoc]] = []
        for unit in sorted(units):
            addrs, rows = self._table(unit)
            lo = max(bisect_right(addrs, start) - 1, 0)
            for addr, row in zip(addrs[lo:bisect_left(addrs, end)], rows[lo:]):
                if row is not None:
                    result.append((max(addr, start), SourceLoc(*row)))
        result.sort(key=lambda r: r[0])
        return [r for i, r in enumerate(result) if i == 0 or r[1] != result[i - 1][1]]

    def unit_at(self, code_offset: int) -> int | None:
        """The offset of the compile unit whose ranges hold ``code_offset`` (inline.py)."""
        return self._unit_at(code_offset)

    def dwarf_info(self) -> DWARFInfo:
        return self._dwarf_info()

    # -- compile unit index ------------------------------------------------------

    def _unit_at(self, code_offset: int) -> int | None:
        i = bisect_right(self._starts, code_offset) - 1
        if i >= 0 and code_offset < self._ends[i]:
            return self._units[i]
        return None

    def _build_index(self) -> tuple[list[int], list[int], list[int]]:
        """Live address ranges of every compile unit, sorted: (starts, ends, unit offsets)."""
        dwarf = self._dwarf_info()
        ranges = []
        for cu in dwarf.iter_CUs():
            for start, end in die_ranges(dwarf, cu, cu.get_top_DIE()):
                if start < self._code_size and start < end:
                    ranges.append((start, min(end, self._code_size), cu.cu_offset))
        ranges.sort()
        return [r[0] for r in ranges], [r[1] for r in ranges], [r[2] for r in ranges]

    # -- line tables ---------------------------------------------------------------

    def _table(self, unit: int) -> _Table:
        table = self._tables.get(unit)
        if table is None:
            table = self._load(f"cu-{unit}")
            if table is None:
                table = self._decode_unit(unit)
                self._store(f"cu-{unit}", table)
            self._tables[unit] = table
        return table

    def _decode_unit(self, unit: int) -> _Table:
        """Decode one compile unit's line program, without tombstoned sequences and line-0 rows."""
        dwarf = self._dwarf_info()
        cu = dwarf.get_CU_at(unit)
        program = dwarf.line_program_for_CU(cu)
        if program is None:
            return [], []
        attrs = cu.get_top_DIE().attributes
        comp_dir = _text(attrs["DW_AT_comp_dir"].value) if "DW_AT_comp_dir" in attrs else ""
        files: dict[int, str] = {}
        sequences: list[tuple[int, list[tuple[int, _Row]]]] = []
        rows: list[tuple[int, _Row]] = []
        first: int | None = None
        for entry in program.get_entries():
            state = entry.state
            if state is None:
                continue
            if first is None:
                first = state.address
            if state.end_sequence:
                if first < self._code_size:
                    rows.append((state.address, None))
                    sequences.append((first, rows))
                rows, first = [], None
            elif state.line:
                name = files.get(state.file)
                if name is None:
                    name = files[state.file] = _file_name(program, state.file, comp_dir)
                rows.append((state.address, (name, state.line, state.column)))
        sequences.sort(key=lambda seq: seq[0])
        flat = [row for _, seq in sequences for row in seq]
        return [r[0] for r in flat], [r[1] for r in flat]

    def _dwarf_info(self) -> DWARFInfo:
        if self._dwarf is None:
            sections = {}
            for arg, name in _SECTIONS.items():
                found = self._sections.get(name)
                sections[arg] = found and DebugSectionDescriptor(
                    stream=io.BytesIO(found[1]), name=name, global_offset=found[0],
                    size=len(found[1]), address=0)
            config = DwarfConfig(little_endian=True, machine_arch="wasm32", default_address_size=4)
            self._dwarf = DWARFInfo(config=config, **sections)
        return self._dwarf

    # -- on-disk cache -----------------------------------------------------------------

    def _load(self, name: str):
        if self._cache_dir is None:
            return None
        try:
            with open(self._cache_dir / f"{name}.pickle", "rb") as f:
                return pickle.load(f)
        except Exception:   # missing or unreadable: decode again
            return None

    def _store(self, name: str, value) -> None:
        """Write atomically; a cache that cannot be written is silently skipped."""
        if self._cache_dir is None:
            return
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._cache_dir, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, self._cache_dir / f"{name}.pickle")
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass


def _file_name(program, index: int, comp_dir: str) -> str:
    """Absolute name of file ``index``: comp_dir / include directory / name.

    DWARF 4 numbers files and include directories from 1 (directory 0 is
    comp_dir); DWARF 5 numbers both from 0.
    """
    base = 1 if program["version"] < 5 else 0
    entries = program["file_entry"]
    if not 0 <= index - base < len(entries):
        return f"<file {index}>"
    entry = entries[index - base]
    dirs = program["include_directory"]
    d = entry.dir_index - base
    directory = _text(dirs[d]) if 0 <= d < len(dirs) else ""
    return posixpath.join(comp_dir, directory, _text(entry.name))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def die_ranges(dwarf: DWARFInfo, cu, die) -> list[tuple[int, int]]:
    """The code ranges of a DIE: its low/high pc, or its range list (based at its unit's low pc)."""
    attrs = die.attributes
    if "DW_AT_ranges" in attrs:
        top = cu.get_top_DIE().attributes
        base = top["DW_AT_low_pc"].value if "DW_AT_low_pc" in top else 0
        result = []
        for entry in dwarf.range_lists().get_range_list_at_offset(attrs["DW_AT_ranges"].value, cu=cu):
            if isinstance(entry, BaseAddressEntry):
                base = entry.base_address
            else:
                offset = 0 if entry.is_absolute else base
                result.append((entry.begin_offset + offset, entry.end_offset + offset))
        return result
    if "DW_AT_low_pc" in attrs and "DW_AT_high_pc" in attrs:
        low, high = attrs["DW_AT_low_pc"].value, attrs["DW_AT_high_pc"]
        # DWARF 4: a constant-class high_pc is the length.
        return [(low, high.value if high.form == "DW_FORM_addr" else low + high.value)]
    return []
