"""Inlined calls at a wasm code offset, from the module's ``DW_TAG_inlined_subroutine`` DIEs.

``InlineMap(line_map).chain(code_offset)`` lists the inlined calls whose ranges hold the
offset, outermost first, each with the callee's name and the file:line of its call site.
Compile units are read on first use (the unit that holds the offset only), so a profile
of a program linked with all of std's DWARF reads the few units it sampled.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from .lines import WasmLineMap, _file_name, _text, die_ranges
from ..names import demangle


@dataclass(frozen=True)
class InlinedCall:
    name: str          # the inlined function, demangled
    call_file: str     # where it was called from (absolute, as the line table names files)
    call_line: int


# One unit's inlined ranges: (start, end, depth, InlinedCall), sorted by start
_Ranges = list[tuple[int, int, int, InlinedCall]]


class InlineMap:
    def __init__(self, lines: WasmLineMap):
        self._lines = lines
        self._units: dict[int, _Ranges] = {}

    def chain(self, code_offset: int) -> list[InlinedCall]:
        unit = self._lines.unit_at(code_offset)
        if unit is None:
            return []
        ranges = self._units.get(unit)
        if ranges is None:
            try:
                ranges = self._units[unit] = self._read_unit(unit)
            except Exception:  # noqa: BLE001 - broken DWARF costs the inline frames only
                ranges = self._units[unit] = []
        hits = [r for r in ranges[:bisect_right(ranges, (code_offset, 1 << 62))] if r[0] <= code_offset < r[1]]
        hits.sort(key=lambda r: r[2])
        return [r[3] for r in hits]

    def _read_unit(self, unit: int) -> _Ranges:
        dwarf = self._lines.dwarf_info()
        cu = dwarf.get_CU_at(unit)
        program = dwarf.line_program_for_CU(cu)
        attrs = cu.get_top_DIE().attributes
        comp_dir = _text(attrs["DW_AT_comp_dir"].value) if "DW_AT_comp_dir" in attrs else ""
        names: dict[int, str] = {}
        out: _Ranges = []

        def name_of(die) -> str:
            origin = die
            for _ in range(4):   # inlined -> abstract subprogram (-> its declaration)
                a = origin.attributes
                if "DW_AT_linkage_name" in a:
                    return demangle(_text(a["DW_AT_linkage_name"].value))
                if "DW_AT_abstract_origin" in a:
                    origin = origin.get_DIE_from_attribute("DW_AT_abstract_origin")
                elif "DW_AT_specification" in a:
                    origin = origin.get_DIE_from_attribute("DW_AT_specification")
                else:
                    break
            a = origin.attributes
            return _text(a["DW_AT_name"].value) if "DW_AT_name" in a else "<inlined>"

        def visit(die, depth: int) -> None:
            for child in die.iter_children():
                d = depth
                if child.tag == "DW_TAG_inlined_subroutine":
                    a = child.attributes
                    key = a["DW_AT_abstract_origin"].value if "DW_AT_abstract_origin" in a else child.offset
                    name = names.get(key)
                    if name is None:
                        name = names[key] = name_of(child)
                    file = (_file_name(program, a["DW_AT_call_file"].value, comp_dir)
                            if program is not None and "DW_AT_call_file" in a else "")
                    call = InlinedCall(name, file, a["DW_AT_call_line"].value if "DW_AT_call_line" in a else 0)
                    for lo, hi in die_ranges(dwarf, cu, child):
                        out.append((lo, hi, depth, call))
                    d = depth + 1
                if child.has_children:
                    visit(child, d)

        visit(cu.get_top_DIE(), 0)
        out.sort(key=lambda r: (r[0], r[1]))
        return out

