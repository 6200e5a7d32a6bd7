"""Read what the runtime needs from compiled ELF objects: function symbols and line rows.

Symbols are read with a few struct calls (this runs on every start, also from the
cache, so it must be cheap); the DWARF line table is read with pyelftools, only
when -g or a trap backtrace asks for it.
"""
from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass

_WASM_FUNC = re.compile(rb"w(\d+)$")
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_STT_FUNC = 2
_SHT_SYMTAB = 2


@dataclass(frozen=True)
class FunctionSymbol:
    func_index: int
    obj: int          # which object of the module
    section: int      # section index in that object
    offset: int       # offset within the section
    size: int


def function_symbols(objs: list[bytes]) -> dict[int, FunctionSymbol]:
    """wasm function index -> where its machine code sits."""
    out: dict[int, FunctionSymbol] = {}
    for k, obj in enumerate(objs):
        for name, shndx, value, size in _iter_func_symbols(obj):
            m = _WASM_FUNC.match(name)
            if m:
                idx = int(m.group(1))
                out[idx] = FunctionSymbol(idx, k, shndx, value, size)
    return out


def _iter_func_symbols(obj: bytes):
    ehdr = _EHDR.unpack_from(obj, 0)
    shoff, shentsize, shnum = ehdr[6], ehdr[11], ehdr[12]
    sections = [_SHDR.unpack_from(obj, shoff + i * shentsize) for i in range(shnum)]
    for sh in sections:
        if sh[1] != _SHT_SYMTAB:
            continue
        strtab = sections[sh[6]]
        str_off = strtab[4]
        for (st_name, st_info, _other, st_shndx, st_value, st_size) in _SYM.iter_unpack(
                obj[sh[4]:sh[4] + sh[5]]):
            if st_info & 0xF != _STT_FUNC:
                continue
            start = str_off + st_name
            name = obj[start:obj.index(b"\0", start)]
            yield name, st_shndx, st_value, st_size


def line_rows(obj: bytes) -> list[tuple[int, int, int]]:
    """Sorted (section index, offset in section, line) rows of an object's DWARF line table.

    The translator writes the wasm byte offset as the line number, so these rows
    map machine code back to wasm instructions.
    """
    from elftools.elf.elffile import ELFFile
    elf = ELFFile(io.BytesIO(obj))
    if not elf.has_dwarf_info():
        return []
    text = [i for i, sec in enumerate(elf.iter_sections()) if sec.name == ".text"]
    if not text:
        return []
    dwarf = elf.get_dwarf_info()
    rows = []
    for cu in dwarf.iter_CUs():
        lp = dwarf.line_program_for_CU(cu)
        if lp is None:
            continue
        for entry in lp.get_entries():
            st = entry.state
            if st is None or st.end_sequence:
                continue
            rows.append((text[0], st.address, st.line))
    rows.sort()
    return rows
