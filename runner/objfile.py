"""Read what the runtime needs from a compiled ELF object: function symbols and line rows."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile

_WASM_FUNC = re.compile(r"w(\d+)$")


@dataclass(frozen=True)
class FunctionSymbol:
    func_index: int
    section: int      # section index (every function's offset is relative to it)
    offset: int
    size: int


def function_symbols(obj: bytes) -> dict[int, FunctionSymbol]:
    """wasm function index -> where its machine code sits in the object."""
    elf = ELFFile(io.BytesIO(obj))
    symtab = elf.get_section_by_name(".symtab")
    out: dict[int, FunctionSymbol] = {}
    if symtab is None:
        return out
    for sym in symtab.iter_symbols():
        if sym["st_info"]["type"] != "STT_FUNC":
            continue
        m = _WASM_FUNC.match(sym.name)
        if m:
            idx = int(m.group(1))
            out[idx] = FunctionSymbol(idx, sym["st_shndx"], sym["st_value"], sym["st_size"])
    return out


def line_rows(obj: bytes) -> dict[int, list[tuple[int, int]]]:
    """Section index -> sorted (offset in section, line) rows of the object's DWARF line table.

    The translator writes the wasm byte offset as the line number, so these rows
    map machine code back to wasm instructions.
    """
    elf = ELFFile(io.BytesIO(obj))
    if not elf.has_dwarf_info():
        return {}
    dwarf = elf.get_dwarf_info()
    text_index = None
    for i, sec in enumerate(elf.iter_sections()):
        if sec.name == ".text":
            text_index = i
    rows: list[tuple[int, int]] = []
    for cu in dwarf.iter_CUs():
        lp = dwarf.line_program_for_CU(cu)
        if lp is None:
            continue
        for entry in lp.get_entries():
            st = entry.state
            if st is None or st.end_sequence:
                continue
            rows.append((st.address, st.line))
    rows.sort()
    return {text_index: rows} if text_index is not None else {}
