"""Native offset -> wasm offset rows: the DWARF line rows of a compiled ELF object (read with
pyelftools, in the process that compiled it, only with -g), then per function of the linked
code unit (``rows_by_function``, what ``wasm_offset_at`` reads)."""
from __future__ import annotations

import bisect
import io


def line_rows(obj: bytes) -> list[tuple[int, int, int]]:
    """Sorted (section index, offset in section, line) rows of an object's DWARF line table.

    The translator writes the wasm byte offset as the line number, so these rows
    map machine code back to wasm instructions.

    LLVM puts functions it infers to be cold (those that always trap) into
    ``.text.unlikely.``, apart from ``.text``.  In a relocatable object each line
    sequence starts with a ``DW_LNE_set_address`` whose relocation names the
    section; pyelftools applies the addend but drops the section, so the
    relocations of ``.rela.debug_line`` are read here too, in order, one per
    ``DW_LNE_set_address``.
    """
    from elftools.dwarf.constants import DW_LNE_set_address
    from elftools.elf.elffile import ELFFile
    elf = ELFFile(io.BytesIO(obj))
    if not elf.has_dwarf_info():
        return []
    text = [i for i, sec in enumerate(elf.iter_sections()) if sec.name == ".text"]
    sections = _set_address_sections(elf)
    if sections is None and not text:
        return []
    dwarf = elf.get_dwarf_info()
    rows = []
    n_set = 0
    for cu in dwarf.iter_CUs():
        lp = dwarf.line_program_for_CU(cu)
        if lp is None:
            continue
        section = text[0] if text else -1
        for entry in lp.get_entries():
            if entry.is_extended and entry.command == DW_LNE_set_address:
                if sections is not None:
                    section = sections[n_set] if n_set < len(sections) else -1
                n_set += 1
            st = entry.state
            if st is None or st.end_sequence or section < 0:
                continue
            rows.append((section, st.address, st.line))
    if sections is not None and n_set != len(sections):
        return []   # relocations and sequences do not pair up: no rows rather than wrong ones
    rows.sort()
    return rows


_R_X86_64_64 = 1


def _set_address_sections(elf) -> list[int] | None:
    """Section index named by each 8-byte address relocation of ``.debug_line``, in order;
    None when the object has no such relocations (then every row belongs to ``.text``)."""
    rela = elf.get_section_by_name(".rela.debug_line")
    if rela is None or elf["e_machine"] != "EM_X86_64":
        return None
    symtab = elf.get_section(rela["sh_link"])
    relocs = sorted((r["r_offset"], r["r_info_sym"]) for r in rela.iter_relocations()
                    if r["r_info_type"] == _R_X86_64_64)
    if not relocs:
        return None
    shndx = [symtab.get_symbol(sym)["st_shndx"] for _, sym in relocs]
    return [i if isinstance(i, int) else -1 for i in shndx]


def rows_by_function(section_offsets, obj_rows, symbols) -> dict[int, list[tuple[int, int]]]:
    """(section, offset, wasm offset) rows of each object -> per function (offset in it, wasm
    offset): a code unit's rows.  ``section_offsets[k]`` places object k's sections in the
    linked image, ``symbols`` its functions (index -> (offset, size))."""
    flat = []
    for k, rows in enumerate(obj_rows):
        where = section_offsets[k]
        for section, offset, line in rows:
            base = where.get(section)
            if base is not None and line:
                flat.append((base + offset, line))
    flat.sort()
    starts = sorted((off, size, i) for i, (off, size) in symbols.items())
    out: dict[int, list[tuple[int, int]]] = {}
    addrs = [a for a, _ in flat]
    for off, size, i in starts:
        lo = bisect.bisect_left(addrs, off)
        hi = bisect.bisect_left(addrs, off + size)
        if hi > lo:
            out[i] = [(a - off, line) for a, line in flat[lo:hi]]
    return out
