"""Link LLVM's relocatable x86-64 ELF objects into one position-independent image, and map it.

This replaces JITLink for the process that runs code, which therefore never imports
llvmlite: objects are compiled elsewhere, ``link`` lays them out once into a blob
whose only load-time fix-ups are the GOT slots of external symbols and the 8-byte
words that hold image offsets, ``dumps`` saves it, and ``map_image`` maps the blob
(``mmap(MAP_PRIVATE)`` of the file, so untouched code pages stay shared through the
page cache), fills the GOT, applies those fix-ups and sets the final protections.

Only the standard library is used.  The layout is::

    code (RX): every SHF_EXECINSTR section, cold ones last, then the call stubs
    rodata (R): the other read-only SHF_ALLOC sections, then every .eh_frame back to back and
        a zero terminator word; ``EH_FRAME_SYMBOL`` names its start (an image with no unwind
        tables has no such symbol): what the runtime hands to ``__register_frame``
    data (RW): .data*, then .bss* and common symbols (zero-filled in the blob)
    GOT (R once written): one slot per import, in ``imports`` order, then slots for
        GOT references to defined symbols that could not be relaxed into a lea; an import
        reached through R_X86_64_GOTTPOFF (an initial-exec thread-local variable, defined
        outside every image) gets its offset from the thread pointer there, not an address

Everything is in one blob, so every PC-relative reference between placed sections
(also across objects) is resolved at link time.  A call to an external function
goes through a stub ``jmp *GOT[k](%rip)`` in the code segment, since the function
may be more than 2 GiB away from wherever the image lands.

Measured on a 2-core x86-64 VM, Python 3.11 (tests/test_loader.py prints the fib figures):
    fib.wasm in two units (2 objects, 160 kB, ~2.5 k relocations; 104 kB image):
        link 1.6 ms, dumps 0.1 ms, map_image of the saved file 0.3 ms
    synthetic: 4 objects, 22 MB, 514 k relocations, 20 k functions (6.5 MB image, 20 k base
    relocations, 100 imports):
        link 0.38 s, dumps 7 ms, map_image of the file 5 ms (2 ms of it the blob's crc32;
        verify=False skips that), map_image of the in-memory Image 5 ms
"""
from __future__ import annotations

import ctypes
import mmap
import os
import struct
import sys
import zlib
from array import array
from dataclasses import dataclass, field
from typing import Callable

PAGE = 4096
MAGIC = b"WRIMG001"
END_MAGIC = b"WRIMGEND"

if sys.byteorder != "little":  # the image format and the ELF reader assume x86-64
    raise ImportError("runner.loader only supports little-endian hosts")


class ImageError(ValueError):
    """An object that cannot be linked, an image file that cannot be used, or an unresolved import."""


@dataclass
class Image:
    """Objects linked into one position-independent blob, not yet at an address."""
    blob: bytes
    segments: list[tuple[int, int, int]]          # (offset, size, final prot), page-aligned
    symbols: dict[str, tuple[int, int]]           # defined global/weak symbol -> (offset, size)
    imports: list[str]                            # GOT slot k <- address of imports[k]
    got_offset: int
    base_relocs: list[int]                        # 8-byte words that get the load address added
    ext_relocs: list[tuple[int, int, int]]        # (offset, import index, addend): word = addr + addend
    section_offsets: list[dict[int, int]]         # per object: section index -> offset in blob
    weak_imports: list[int] = field(default_factory=list)  # import indices that may stay 0


# --- ELF ------------------------------------------------------------------------------------

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_RELA = struct.Struct("<QQq")

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 1, 2, 3, 4, 8, 9
SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY, SHT_GROUP, SHT_SYMTAB_SHNDX = 14, 15, 16, 17, 18
SHT_X86_64_UNWIND = 0x70000001
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_TLS = 0x1, 0x2, 0x4, 0x400
SHN_UNDEF, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFFF1, 0xFFF2, 0xFFFF
STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10
STT_SECTION, STT_TLS, STT_GNU_IFUNC = 3, 6, 10
GRP_COMDAT = 1

R_NONE, R_64, R_PC32, R_GOT32, R_PLT32 = 0, 1, 2, 3, 4
R_GOTPCREL, R_32, R_32S = 9, 10, 11
R_PC64, R_GOTOFF64, R_GOTPC32, R_GOT64, R_GOTPCREL64, R_GOTPC64, R_GOTPLT64, R_PLTOFF64 = range(24, 32)
R_SIZE32, R_SIZE64 = 32, 33
R_GOTTPOFF = 22   # initial-exec TLS: a GOT slot holding the variable's offset from the thread pointer
R_GOTPCRELX, R_REX_GOTPCRELX = 41, 42

_GOT_TYPES = {R_GOT32, R_GOTPCREL, R_GOT64, R_GOTPCREL64, R_GOTPLT64, R_GOTPCRELX, R_REX_GOTPCRELX}
_KNOWN_TYPES = _GOT_TYPES | {R_NONE, R_64, R_PC32, R_PLT32, R_PC64, R_GOTOFF64, R_GOTPC32,
                             R_GOTPC64, R_PLTOFF64, R_SIZE32, R_SIZE64, R_GOTTPOFF}
_TYPE_NAMES = dict(enumerate(
    "NONE 64 PC32 GOT32 PLT32 COPY GLOB_DAT JUMP_SLOT RELATIVE GOTPCREL 32 32S 16 PC16 8 PC8 "
    "DTPMOD64 DTPOFF64 TPOFF64 TLSGD TLSLD DTPOFF32 GOTTPOFF TPOFF32 PC64 GOTOFF64 GOTPC32 GOT64 "
    "GOTPCREL64 GOTPC64 GOTPLT64 PLTOFF64 SIZE32 SIZE64 GOTPC32_TLSDESC TLSDESC_CALL TLSDESC "
    "IRELATIVE RELATIVE64 PC32_BND PLT32_BND GOTPCRELX REX_GOTPCRELX".split()))
_GOT_SYMBOL = "_GLOBAL_OFFSET_TABLE_"
_MASK64 = (1 << 64) - 1
_STUB_SIZE = 8   # FF 25 rel32 (jmp *slot(%rip)), then two int3


def _type_name(t: int) -> str:
    return f"R_X86_64_{_TYPE_NAMES[t]}" if t in _TYPE_NAMES else f"relocation type {t}"


def _align(n: int, a: int) -> int:
    return -(-n // a) * a if a > 1 else n


@dataclass
class _Section:
    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    align: int


@dataclass
class _Object:
    """One parsed ELF relocatable object: what linking needs, nothing decoded twice."""
    number: int
    data: bytes
    sections: list[_Section]
    syms: list[tuple]          # raw (name, info, other, shndx, value, size), shndx resolved from XINDEX
    strtab: int                # file offset of the symbol string table
    relas: list[_Section]      # relocation sections (SHT_RELA; SHT_REL only to reject it)
    dropped: set[int] = field(default_factory=set)   # section indices of COMDAT groups seen before

    def symname(self, k: int) -> str:
        start = self.strtab + self.syms[k][0]
        return self.data[start:self.data.index(b"\0", start)].decode()

    def describe(self, k: int) -> str:
        """A symbol's name for messages, also for unnamed section symbols."""
        name = self.symname(k)
        if not name and self.syms[k][1] & 0xF == STT_SECTION:
            shndx = self.syms[k][3]
            name = f"section {self.sections[shndx].name}" if shndx < len(self.sections) else "a section"
        return name or f"symbol #{k}"


def _parse(number: int, data: bytes) -> _Object:
    if len(data) < _EHDR.size or data[:4] != b"\x7fELF":
        raise ImageError(f"object {number} is not an ELF file")
    ident, e_type, machine, _v, _e, _ph, shoff, _f, _eh, _phs, _phn, shentsize, shnum, shstrndx = \
        _EHDR.unpack_from(data, 0)
    if ident[4] != 2 or ident[5] != 1 or machine != 62 or e_type != 1:
        raise ImageError(f"object {number} is not a relocatable little-endian x86-64 ELF64 object")
    if shentsize != _SHDR.size:
        raise ImageError(f"object {number}: unexpected section header size {shentsize}")
    if shnum == 0 or shstrndx == SHN_XINDEX:   # more than 0xff00 sections: counts live in section 0
        first = _SHDR.unpack_from(data, shoff)
        shnum = shnum or first[5]
        shstrndx = first[6] if shstrndx == SHN_XINDEX else shstrndx
    if shoff + shnum * _SHDR.size > len(data):
        raise ImageError(f"object {number} is truncated")
    raw = list(_SHDR.iter_unpack(data[shoff:shoff + shnum * _SHDR.size]))
    names_at = raw[shstrndx][4]

    def name(off: int) -> str:
        start = names_at + off
        return data[start:data.index(b"\0", start)].decode()

    sections = [_Section(i, name(h[0]), h[1], h[2], h[4], h[5], h[6], h[7], max(h[8], 1))
                for i, h in enumerate(raw)]
    symtab = next((s for s in sections if s.type == SHT_SYMTAB), None)
    syms: list[tuple] = []
    strtab = 0
    if symtab is not None:
        syms = list(_SYM.iter_unpack(data[symtab.offset:symtab.offset + symtab.size]))
        strtab = sections[symtab.link].offset
        xs = next((s for s in sections if s.type == SHT_SYMTAB_SHNDX and s.link == symtab.index), None)
        if xs is not None:
            big = array("I", data[xs.offset:xs.offset + xs.size])
            syms = [(n, i, o, big[k], v, z) if sh == SHN_XINDEX else (n, i, o, sh, v, z)
                    for k, (n, i, o, sh, v, z) in enumerate(syms)]
    relas = [s for s in sections if s.type in (SHT_RELA, SHT_REL)]
    return _Object(number, data, sections, syms, strtab, relas)


EH_FRAME_SYMBOL = "__wr_eh_frame"   # the image's unwind tables (wasm exceptions unwind native frames)


def _placed(s: _Section) -> bool:
    """Whether a section goes into the image: SHF_ALLOC (the unwind tables included)."""
    return bool(s.flags & SHF_ALLOC)


def _is_eh_frame(s: _Section) -> bool:
    return s.type == SHT_X86_64_UNWIND or s.name == ".eh_frame"


def _drop_duplicate_groups(objs: list[_Object]) -> None:
    """COMDAT: the first object that has a group keeps it; the others' copies are not placed,
    and their symbols resolve to the kept copy."""
    seen: set[str] = set()
    for o in objs:
        for s in o.sections:
            if s.type != SHT_GROUP or s.size < 4:
                continue
            words = array("I", o.data[s.offset:s.offset + s.size])
            if not words[0] & GRP_COMDAT:
                continue
            signature = o.symname(s.info)
            if signature in seen:
                o.dropped.update(words[1:])
            else:
                seen.add(signature)


# --- symbol resolution ----------------------------------------------------------------------

@dataclass
class _Def:
    obj: int
    sym: int
    strength: int     # 2 strong, 1 common, 0 weak
    offset: int | None = None   # in the image, once laid out (None for SHN_ABS)


def _resolve_globals(objs: list[_Object]) -> tuple[dict[str, _Def], dict[str, tuple[int, int]]]:
    """name -> winning definition, and name -> (size, alignment) of the common symbols that won."""
    defs: dict[str, _Def] = {}
    commons: dict[str, tuple[int, int]] = {}
    for o in objs:
        secs = o.sections
        for k, (_n, info, _other, shndx, value, size) in enumerate(o.syms):
            bind = info >> 4
            if bind == STB_LOCAL or shndx == SHN_UNDEF:
                continue
            if shndx < len(secs):
                if shndx in o.dropped or not _placed(secs[shndx]):
                    continue   # e.g. in a dropped COMDAT copy: references go to the kept definition
            elif shndx not in (SHN_ABS, SHN_COMMON):
                raise ImageError(f"object {o.number}: {o.symname(k)} has a bad section index {shndx}")
            if info & 0xF in (STT_TLS, STT_GNU_IFUNC):
                raise ImageError(f"object {o.number}: {o.symname(k)} is a thread-local or ifunc symbol")
            name = o.symname(k)
            strength = 1 if shndx == SHN_COMMON else (0 if bind == STB_WEAK else 2)
            old = defs.get(name)
            if old is not None and old.strength == 2 and strength == 2:
                raise ImageError(f"duplicate symbol {name} (objects {old.obj} and {o.number})")
            if strength == 1:
                psize, palign = commons.get(name, (0, 1))
                commons[name] = (max(psize, size), max(palign, value))
            if old is None or strength > old.strength:
                defs[name] = _Def(o.number, k, strength)
    for name in list(commons):
        if defs[name].strength != 1:
            del commons[name]   # a real definition beats a common block of the same name
    return defs, commons


# --- the linker -----------------------------------------------------------------------------

class _Linker:
    def __init__(self, objects: list[bytes]):
        self.objs = [_parse(k, bytes(o) if not isinstance(o, bytes) else o) for k, o in enumerate(objects)]
        _drop_duplicate_groups(self.objs)
        self.defs, self.commons = _resolve_globals(self.objs)

    def link(self) -> Image:
        self._check_sections()
        imports, stubbed, weak = self._scan_relocations()
        self.imports = imports
        self.import_index = {n: k for k, n in enumerate(imports)}
        self._layout(stubbed)
        self._symbol_tables()
        self.got_slots: dict[object, int] = {}   # key -> GOT slot number (imports are 0..n-1)
        self.got_values: list[tuple[int, int, bool]] = []   # internal slots: (slot, value, relocate)
        self.base_relocs: list[int] = []
        self.ext_relocs: list[tuple[int, int, int]] = []
        self._write_stubs()
        for o in self.objs:
            for rs in o.relas:
                if self._applies(o, rs):
                    self._apply(o, rs)
        return self._finish(weak)

    def _check_sections(self) -> None:
        for o in self.objs:
            for s in o.sections:
                if not _placed(s) or s.index in o.dropped:
                    continue
                if s.flags & SHF_TLS:
                    raise ImageError(f"object {o.number}: thread-local section {s.name} is not supported")
                if s.type in (SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY) and s.size:
                    raise ImageError(f"object {o.number}: {s.name} (static constructors) is not supported")
                if s.align > PAGE:
                    raise ImageError(f"object {o.number}: {s.name} wants {s.align}-byte alignment, "
                                     f"more than a page")

    def _applies(self, o: _Object, rs: _Section) -> bool:
        """Relocations of placed sections only (not .rela.debug_*, dropped groups)."""
        if rs.flags & SHF_ALLOC or rs.info >= len(o.sections):
            return False
        target = o.sections[rs.info]
        return _placed(target) and target.index not in o.dropped and target.type != SHT_NOBITS

    def _rela_words(self, o: _Object, rs: _Section) -> memoryview:
        if rs.size % _RELA.size or rs.offset + rs.size > len(o.data):
            raise ImageError(f"object {o.number}: malformed {rs.name}")
        return memoryview(o.data)[rs.offset:rs.offset + rs.size].cast("Q")

    def _global_target(self, o: _Object, k: int):
        """Where a global symbol reference goes: a _Def, or its name if nothing defines it."""
        name = o.symname(k)
        d = self.defs.get(name)
        return d if d is not None else name

    def _scan_relocations(self) -> tuple[list[str], set[str], set[str]]:
        """Before layout: check every relocation type, and find the imports and which of them need
        call stubs.  Only the distinct (symbol, type) pairs are looked at: collecting them is a
        set() of a strided memoryview, at C speed."""
        imports: set[str] = set()
        stubbed: set[str] = set()
        strong_refs: set[str] = set()
        weak_refs: set[str] = set()
        for o in self.objs:
            for rs in o.relas:
                if rs.type == SHT_REL and self._applies(o, rs):
                    raise ImageError(f"object {o.number}: SHT_REL section {rs.name} (x86-64 uses RELA)")
                if not self._applies(o, rs):
                    continue
                words = self._rela_words(o, rs)
                target = o.sections[rs.info]
                if words and max(words[0::3]) >= target.size:
                    raise ImageError(f"object {o.number}: {rs.name} has an offset outside {target.name}")
                executable = bool(target.flags & SHF_EXECINSTR)
                for info in set(words[1::3]):
                    t, k = info & 0xFFFFFFFF, info >> 32
                    if t not in _KNOWN_TYPES:
                        why = ("absolute 32-bit relocation in a PIC object (was it compiled with "
                               "reloc='pic'?)") if t in (R_32, R_32S) else "unsupported relocation"
                        raise ImageError(f"object {o.number}: {why}: {_type_name(t)} against "
                                         f"{o.describe(k) if k < len(o.syms) else k} in {target.name}")
                    if k >= len(o.syms):
                        raise ImageError(f"object {o.number}: {rs.name} refers to symbol #{k}, out of range")
                    _n, info_, _o, shndx, _v, _z = o.syms[k]
                    if info_ >> 4 == STB_LOCAL or t == R_NONE:
                        continue
                    tgt = self._global_target(o, k)
                    if t == R_GOTTPOFF and not isinstance(tgt, str):
                        raise ImageError(f"object {o.number}: R_X86_64_GOTTPOFF against {o.describe(k)}: "
                                         f"thread-local variables must be defined outside the image")
                    if not isinstance(tgt, str) or tgt == _GOT_SYMBOL:
                        continue
                    (weak_refs if info_ >> 4 == STB_WEAK else strong_refs).add(tgt)
                    imports.add(tgt)
                    if t in (R_PLT32, R_PLTOFF64) or (t == R_PC32 and executable):
                        stubbed.add(tgt)
                    elif t in (R_PC32, R_PC64, R_GOTOFF64, R_SIZE32, R_SIZE64):
                        raise ImageError(
                            f"object {o.number}: {_type_name(t)} against external symbol {tgt} in "
                            f"{target.name}: external data must be reached through the GOT "
                            f"(declare it without dso_local)")
        return sorted(imports), stubbed, weak_refs - strong_refs

    def _layout(self, stubbed: set[str]) -> None:
        """Assign every placed section (and common symbol) its offset; segments page-aligned."""
        code, ro, rw, bss, eh = [], [], [], [], []
        for o in self.objs:
            for s in o.sections:
                if not _placed(s) or s.index in o.dropped:
                    continue
                if _is_eh_frame(s):
                    if s.size:
                        eh.append((o, s))
                elif s.flags & SHF_EXECINSTR:
                    cold = s.name.startswith((".text.unlikely", ".text.cold"))
                    code.append((cold, o.number, s))
                elif not s.flags & SHF_WRITE:
                    ro.append((o, s))
                elif s.type == SHT_NOBITS:
                    bss.append((o, s))
                else:
                    rw.append((o, s))
        code.sort(key=lambda c: c[0])   # stable: hot code of all objects first, cold code after
        self.section_offsets: list[dict[int, int]] = [{} for _ in self.objs]
        self.segments: list[tuple[int, int, int]] = []
        self.fills: list[tuple[int, _Object, _Section]] = []   # PROGBITS contents to copy
        pos = 0

        def place(o: _Object, s: _Section) -> None:
            nonlocal pos
            pos = _align(pos, s.align)
            self.section_offsets[o.number][s.index] = pos
            if s.type != SHT_NOBITS:
                self.fills.append((pos, o, s))
            pos += s.size

        def segment(start: int, prot: int) -> int:
            nonlocal pos
            end = _align(pos, PAGE)
            if end > start:
                self.segments.append((start, end - start, prot))
            pos = end
            return end

        for _cold, n, s in code:
            place(self.objs[n], s)
        pos = _align(pos, 16)
        self.stub_offset = pos
        self.stub_of = {name: pos + _STUB_SIZE * i for i, name in enumerate(sorted(stubbed))}
        pos += _STUB_SIZE * len(stubbed)
        start = segment(0, mmap.PROT_READ | mmap.PROT_EXEC)
        for o, s in ro:
            place(o, s)
        self.eh_frame = None
        if eh:
            # libgcc's __register_frame walks CIE/FDE records up to a zero length word: the
            # objects' tables go back to back (each a whole number of 8-byte-padded records,
            # so no gap reads as a terminator), then the terminator (the blob is zero-filled).
            pos = _align(pos, 8)
            self.eh_frame = pos
            for o, s in eh:
                if pos % max(s.align, 1) or s.size % 4:
                    raise ImageError(f"object {o.number}: {s.name} of {s.size} bytes cannot be concatenated")
                place(o, s)
            pos += 8
        start = segment(start, mmap.PROT_READ)
        for o, s in rw + bss:
            place(o, s)
        self.common_offsets: dict[str, int] = {}
        for name, (size, align) in sorted(self.commons.items()):
            pos = _align(pos, max(align, 1))
            self.common_offsets[name] = pos
            pos += size
        self.got_offset = segment(start, mmap.PROT_READ | mmap.PROT_WRITE)
        self.blob = bytearray(self.got_offset + 8 * len(self.imports))
        code_end = self.segments[0][1] if self.segments and self.segments[0][2] & mmap.PROT_EXEC else 0
        self.blob[:code_end] = b"\xcc" * code_end   # padding between code sections traps
        for off, o, s in self.fills:
            self.blob[off:off + s.size] = o.data[s.offset:s.offset + s.size]

    def _symbol_tables(self) -> None:
        """Per object, per symbol index: its image offset (or None) and, for imports, the GOT slot;
        plus the exported symbol table."""
        self.symbols: dict[str, tuple[int, int]] = {}
        self.abs_values: dict[tuple[int, int], int] = {}
        for name, d in self.defs.items():
            _n, _i, _o, shndx, value, size = self.objs[d.obj].syms[d.sym]
            if shndx != SHN_ABS:
                d.offset = self.common_offsets[name] if shndx == SHN_COMMON else \
                    self.section_offsets[d.obj][shndx] + value
                self.symbols[name] = (d.offset, size)
        if self.eh_frame is not None:
            self.symbols[EH_FRAME_SYMBOL] = (self.eh_frame, 0)
        self.where: list[list[int | None]] = []
        self.pcrel: list[list[int | None]] = []
        self.imp: list[list[int | None]] = []
        for o in self.objs:
            secoff = self.section_offsets[o.number]
            where: list[int | None] = [None] * len(o.syms)
            imp: list[int | None] = [None] * len(o.syms)
            for k, (_n, info, _other, shndx, value, _size) in enumerate(o.syms):
                if info >> 4 == STB_LOCAL:
                    if shndx == SHN_ABS:
                        self.abs_values[(o.number, k)] = value
                    elif shndx in secoff:
                        where[k] = secoff[shndx] + value
                    continue
                tgt = self._global_target(o, k)
                if isinstance(tgt, _Def):
                    where[k] = tgt.offset
                    if tgt.offset is None:
                        self.abs_values[(o.number, k)] = self.objs[tgt.obj].syms[tgt.sym][4]
                elif tgt == _GOT_SYMBOL:
                    where[k] = self.got_offset
                else:
                    imp[k] = self.import_index.get(tgt)
            pcrel = list(where)
            for k, i in enumerate(imp):
                if i is not None:
                    pcrel[k] = self.stub_of.get(self.imports[i])
            self.where.append(where)
            self.imp.append(imp)
            self.pcrel.append(pcrel)

    def _write_stubs(self) -> None:
        for name, off in self.stub_of.items():
            slot = self.got_offset + 8 * self.import_index[name]
            self.blob[off:off + _STUB_SIZE] = b"\xff\x25" + struct.pack("<i", slot - (off + 6)) + b"\xcc\xcc"

    def _got_slot(self, o: _Object, k: int) -> int:
        """Image offset of the GOT slot for symbol k of object o (created on first use)."""
        i = self.imp[o.number][k]
        if i is not None:
            return self.got_offset + 8 * i
        off = self.where[o.number][k]
        if off is not None:
            key: object = off
            value, relocate = off, True
        elif (o.number, k) in self.abs_values:
            value = self.abs_values[(o.number, k)]
            key, relocate = ("abs", value), False
        else:
            raise self._unplaced(o, k)
        slot = self.got_slots.get(key)
        if slot is None:
            slot = self.got_slots[key] = len(self.imports) + len(self.got_values)
            self.got_values.append((slot, value, relocate))
        return self.got_offset + 8 * slot

    def _unplaced(self, o: _Object, k: int) -> ImageError:
        shndx = o.syms[k][3]
        where = o.sections[shndx].name if 0 < shndx < len(o.sections) else "no placed section"
        return ImageError(f"object {o.number}: relocation against {o.describe(k)}, which is in {where} "
                          f"(not part of the image)")

    def _apply(self, o: _Object, rs: _Section) -> None:
        """Apply one relocation section.  The common cases are inline; the rest go to _apply_other."""
        base = self.section_offsets[o.number][rs.info]
        self._in_eh_frame = _is_eh_frame(o.sections[rs.info])
        blob = self.blob
        where, pcrel = self.where[o.number], self.pcrel[o.number]
        pack_into = struct.pack_into
        base_relocs = self.base_relocs
        got_slot = self._got_slot
        p = k = t = 0
        try:
            for off, info, add in _RELA.iter_unpack(o.data[rs.offset:rs.offset + rs.size]):
                t = info & 0xFFFFFFFF
                k = info >> 32
                p = base + off
                if t == R_PLT32 or t == R_PC32:
                    s = pcrel[k]
                    if s is None or (t == R_PC32 and where[k] is None):
                        s = self._pc32_target(o, k, p, t)
                        if s is None:   # .eh_frame -> a dropped COMDAT copy
                            self._discard_fde_field(base, o, rs, p)
                            continue
                    pack_into("<i", blob, p, s + add - p)
                elif t == R_REX_GOTPCRELX or t == R_GOTPCRELX:
                    s = where[k]
                    if s is not None and blob[p - 2] == 0x8B:
                        # mov foo@GOTPCREL(%rip), %reg -> lea foo(%rip), %reg: no GOT load at run time
                        blob[p - 2] = 0x8D
                        pack_into("<i", blob, p, s + add - p)
                    else:
                        pack_into("<i", blob, p, got_slot(o, k) + add - p)
                elif t == R_64 and where[k] is not None:
                    pack_into("<Q", blob, p, where[k] + add)
                    base_relocs.append(p)
                else:
                    self._apply_other(o, t, k, p, add)
        except struct.error:
            raise ImageError(f"object {o.number}: {_type_name(t)} against {o.describe(k)} at image offset "
                             f"{p:#x} does not fit its field") from None

    def _discard_fde_field(self, base: int, o: _Object, rs: _Section, p: int) -> None:
        """An .eh_frame reference to a function (or its LSDA) in a dropped COMDAT copy: the FDE
        must cover nothing, as a linker discards it: its pc_begin and pc_range become 0 (the
        LSDA pointer of such an FDE is never read)."""
        sec = o.sections[rs.info]
        data = o.data[sec.offset:sec.offset + sec.size]
        at = 0
        while at + 8 <= len(data):
            length, cie = struct.unpack_from("<II", data, at)
            if length == 0:
                break
            if cie and base + at + 8 == p:
                self.blob[p:p + 8] = bytes(8)
                return
            at += 4 + length
        struct.pack_into("<i", self.blob, p, 0)

    def _pc32_target(self, o: _Object, k: int, p: int, t: int) -> int | None:
        """The target of a PC32/PLT32 that is not a plain in-image reference: an import's stub, for
        a branch only (a PLT32 always is; a PC32 may also be a data access like lea/mov x(%rip))."""
        i = self.imp[o.number][k]
        if i is None and self._in_eh_frame and o.syms[k][3] in o.dropped:
            return None
        if i is None:
            if (o.number, k) in self.abs_values:
                raise ImageError(f"object {o.number}: PC-relative reference to absolute symbol {o.describe(k)}")
            raise self._unplaced(o, k)
        name = self.imports[i]
        stub = self.stub_of.get(name)
        op, op2 = self.blob[p - 1], self.blob[p - 2]
        branch = op in (0xE8, 0xE9) or (op2 == 0x0F and 0x80 <= op <= 0x8F)
        if stub is None or (t == R_PC32 and not branch):
            raise ImageError(f"object {o.number}: R_X86_64_PC32 against external data symbol {name}: "
                             f"external data must be reached through the GOT (declare it without dso_local)")
        return stub

    def _apply_other(self, o: _Object, t: int, k: int, p: int, add: int) -> None:
        blob, got = self.blob, self.got_offset
        where = self.where[o.number][k]
        if t == R_NONE:
            return
        if t == R_64:
            i = self.imp[o.number][k]
            if i is not None:
                self.ext_relocs.append((p, i, add))
            elif (o.number, k) in self.abs_values:
                struct.pack_into("<Q", blob, p, (self.abs_values[(o.number, k)] + add) & _MASK64)
            else:
                raise self._unplaced(o, k)
        elif t in (R_GOTPCREL, R_GOTPCRELX, R_REX_GOTPCRELX):
            struct.pack_into("<i", blob, p, self._got_slot(o, k) + add - p)
        elif t == R_GOTTPOFF:
            # The import's GOT slot; the resolver gives it the TLS offset, not an address
            # (runtime/tls.py).  Never relaxed: the offset is known only in the running process.
            if self.imp[o.number][k] is None:
                raise ImageError(f"object {o.number}: R_X86_64_GOTTPOFF against {o.describe(k)}, "
                                 f"which is not an import")
            struct.pack_into("<i", blob, p, self._got_slot(o, k) + add - p)
        elif t == R_GOTPCREL64:
            struct.pack_into("<q", blob, p, self._got_slot(o, k) + add - p)
        elif t in (R_GOT32, R_GOT64, R_GOTPLT64):
            struct.pack_into("<i" if t == R_GOT32 else "<q", blob, p, self._got_slot(o, k) - got + add)
        elif t == R_GOTPC32:
            struct.pack_into("<i", blob, p, got + add - p)
        elif t == R_GOTPC64:
            struct.pack_into("<q", blob, p, got + add - p)
        elif t in (R_PC64, R_GOTOFF64, R_PLTOFF64):
            s = self.pcrel[o.number][k] if t == R_PLTOFF64 else where
            if s is None:
                raise self._unplaced(o, k) if self.imp[o.number][k] is None else ImageError(
                    f"object {o.number}: {_type_name(t)} against external symbol {o.describe(k)}")
            struct.pack_into("<q", blob, p, s + add - (p if t == R_PC64 else got))
        elif t in (R_SIZE32, R_SIZE64):
            tgt = self._global_target(o, k) if o.syms[k][1] >> 4 != STB_LOCAL else None
            size = self.objs[tgt.obj].syms[tgt.sym][5] if isinstance(tgt, _Def) else o.syms[k][5]
            struct.pack_into("<i" if t == R_SIZE32 else "<q", blob, p, size + add)
        elif t in (R_PC32, R_PLT32):
            struct.pack_into("<i", blob, p, self._pc32_target(o, k, p, t) + add - p)
        else:  # _scan_relocations let only known types through
            raise ImageError(f"object {o.number}: unexpected {_type_name(t)}")

    def _finish(self, weak: set[str]) -> Image:
        n = len(self.imports) + len(self.got_values)
        end = self.got_offset + 8 * n
        self.blob.extend(bytes(_align(end, PAGE) - len(self.blob)))
        for slot, value, relocate in self.got_values:
            at = self.got_offset + 8 * slot
            struct.pack_into("<Q", self.blob, at, value & _MASK64)
            if relocate:
                self.base_relocs.append(at)
        segments = list(self.segments)
        if n:
            segments.append((self.got_offset, _align(end, PAGE) - self.got_offset, mmap.PROT_READ))
        self.base_relocs.sort()
        return Image(blob=bytes(self.blob), segments=segments, symbols=self.symbols, imports=self.imports,
                     got_offset=self.got_offset, base_relocs=self.base_relocs, ext_relocs=self.ext_relocs,
                     section_offsets=self.section_offsets,
                     weak_imports=[self.import_index[w] for w in sorted(weak)])


def link(objects: list[bytes]) -> Image:
    """Lay out the SHF_ALLOC sections of all objects in one blob, resolve symbols across objects
    (undefined ones become imports), and apply every relocation whose value the layout fixes."""
    return _Linker(objects).link()


# --- the image file -------------------------------------------------------------------------
#
#   header    magic, meta length, blob offset and length, crc32 of meta (+ padding), of the blob,
#             and of the header itself
#   meta      counts, then struct-packed arrays (segments, symbol offsets and sizes, relocations,
#             weak import indices, section offsets) and one NUL-separated table of names
#             (symbols, then imports): parsing is a few array.frombytes and one str.split
#   padding   to a page-aligned file offset, so the blob can be mmap'ed from the file
#   blob
#   trailer   the file's total length and END_MAGIC: a truncated file is caught before its crc

_HEAD = struct.Struct("<8sQQQIII")
_COUNTS = struct.Struct("<11Q")
_TAIL = struct.Struct("<Q8s")


@dataclass
class ImageHeader:
    """Everything about an image but the blob's bytes: what mapping it needs."""
    segments: list[tuple[int, int, int]]
    symbols: dict[str, tuple[int, int]]
    imports: list[str]
    weak_imports: list[int]
    got_offset: int
    base_relocs: array          # 'I': offsets
    ext_relocs: array           # 'q': offset, import index, addend; flattened
    section_offsets: list[dict[int, int]]
    blob_offset: int            # in the file
    blob_size: int
    blob_crc: int


def _u32(values, what: str) -> array:
    try:
        return array("I", values)
    except OverflowError:
        raise ImageError(f"image too large: a {what} does not fit in 32 bits") from None


def dumps(image: Image) -> bytes:
    """The image as a file (see the format above)."""
    names = list(image.symbols) + list(image.imports)
    if any("\0" in n for n in names):
        raise ImageError("a symbol name contains NUL")
    name_bytes = "\0".join(names).encode()
    secoffs = [x for d in image.section_offsets for item in sorted(d.items()) for x in item]
    parts = [
        _COUNTS.pack(len(image.segments), len(image.symbols), len(image.imports), len(image.weak_imports),
                     len(image.base_relocs), len(image.ext_relocs), len(image.section_offsets),
                     len(secoffs) // 2, len(name_bytes), image.got_offset, 0),
        array("Q", [x for seg in image.segments for x in seg]),
        _u32([v[0] for v in image.symbols.values()], "symbol offset"),
        _u32([v[1] for v in image.symbols.values()], "symbol size"),
        _u32(image.base_relocs, "relocation offset"),
        array("q", [x for r in image.ext_relocs for x in r]),
        _u32(image.weak_imports, "import index"),
        _u32([len(d) for d in image.section_offsets], "section count"),
        _u32(secoffs, "section offset"),
        name_bytes,
    ]
    meta = b"".join(p if isinstance(p, bytes) else p.tobytes() for p in parts)
    blob_offset = _align(_HEAD.size + len(meta), PAGE)
    meta += bytes(blob_offset - _HEAD.size - len(meta))
    blob = image.blob
    head = _HEAD.pack(MAGIC, len(meta), blob_offset, len(blob), zlib.crc32(meta), zlib.crc32(blob), 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    total = blob_offset + len(blob) + _TAIL.size
    return b"".join((head, meta, blob, _TAIL.pack(total, END_MAGIC)))


def save(image: Image, path: str | os.PathLike) -> None:
    """Write the image file atomically: a mapped image must never change under its users
    (MAP_PRIVATE pages not yet copied still follow the file)."""
    tmp = f"{os.fspath(path)}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(dumps(image))
    os.replace(tmp, path)


def _parse_head(head: bytes, file_size: int) -> tuple[int, int, int, int, int]:
    if len(head) < _HEAD.size or head[:8] != MAGIC:
        raise ImageError("not a wasirun image (bad magic)")
    _m, meta_len, blob_offset, blob_size, meta_crc, blob_crc, head_crc = _HEAD.unpack_from(head)
    if zlib.crc32(head[:_HEAD.size - 4]) != head_crc:
        raise ImageError("image header is damaged (checksum mismatch)")
    if blob_offset != _HEAD.size + meta_len or blob_offset % PAGE or blob_size % PAGE:
        raise ImageError("image header is inconsistent")
    if file_size != blob_offset + blob_size + _TAIL.size:
        raise ImageError(f"image file is truncated or has trailing bytes "
                         f"({file_size} bytes, expected {blob_offset + blob_size + _TAIL.size})")
    return meta_len, blob_offset, blob_size, meta_crc, blob_crc


def _parse_meta(meta: bytes, blob_offset: int, blob_size: int, blob_crc: int) -> ImageHeader:
    try:
        (nseg, nsym, nimp, nweak, nbase, next_, nobj, nsec, names_len, got_offset, _r) = \
            _COUNTS.unpack_from(meta)
        pos = _COUNTS.size

        def take(code: str, n: int) -> array:
            nonlocal pos
            a = array(code)
            end = pos + n * a.itemsize
            if end > len(meta):
                raise ImageError("image metadata is truncated")
            a.frombytes(meta[pos:end])
            pos = end
            return a

        segs = take("Q", 3 * nseg)
        sym_off, sym_size = take("I", nsym), take("I", nsym)
        base, ext, weak = take("I", nbase), take("q", 3 * next_), take("I", nweak)
        counts, secoffs = take("I", nobj), take("I", 2 * nsec)
        names = meta[pos:pos + names_len].decode().split("\0") if names_len else []
    except (struct.error, UnicodeDecodeError) as exc:
        raise ImageError(f"image metadata is malformed: {exc}") from None
    if len(names) != nsym + nimp or sum(counts) != nsec:
        raise ImageError("image metadata is malformed: counts do not match")
    section_offsets, i = [], 0
    for c in counts:
        section_offsets.append(dict(zip(secoffs[i:i + 2 * c:2], secoffs[i + 1:i + 2 * c:2])))
        i += 2 * c
    return ImageHeader(
        segments=[tuple(segs[i:i + 3]) for i in range(0, len(segs), 3)],
        symbols=dict(zip(names[:nsym], zip(sym_off, sym_size))), imports=names[nsym:],
        weak_imports=list(weak), got_offset=got_offset, base_relocs=base, ext_relocs=ext,
        section_offsets=section_offsets, blob_offset=blob_offset, blob_size=blob_size, blob_crc=blob_crc)


def _header_from_bytes(data) -> tuple[ImageHeader, memoryview]:
    data = memoryview(data).cast("B")
    meta_len, blob_offset, blob_size, meta_crc, blob_crc = _parse_head(bytes(data[:_HEAD.size]), len(data))
    _check_tail(bytes(data[-_TAIL.size:]), len(data))
    meta = data[_HEAD.size:blob_offset]
    if zlib.crc32(meta) != meta_crc:
        raise ImageError("image metadata is damaged (checksum mismatch)")
    blob = data[blob_offset:blob_offset + blob_size]
    if zlib.crc32(blob) != blob_crc:
        raise ImageError("image blob is damaged (checksum mismatch)")
    return _parse_meta(bytes(meta), blob_offset, blob_size, blob_crc), blob


def _check_tail(tail: bytes, file_size: int) -> None:
    total, end = _TAIL.unpack(tail)
    if end != END_MAGIC or total != file_size:
        raise ImageError("image file is truncated or damaged (bad trailer)")


_header_cache: dict[tuple, ImageHeader] = {}


def _header_from_file(fd: int, offset: int = 0) -> ImageHeader:
    """Header and metadata of an image file, or of the image that fills a file from
    ``offset`` (page-aligned) to its end; the blob is checked where it is mapped."""
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, offset)
    hdr = _header_cache.get(key)
    if hdr is not None:
        return hdr
    if offset % PAGE:
        raise ImageError("an image inside a file must start at a page boundary")
    size = st.st_size - offset
    head = os.pread(fd, _HEAD.size, offset)
    meta_len, blob_offset, blob_size, meta_crc, blob_crc = _parse_head(head, size)
    _check_tail(os.pread(fd, _TAIL.size, st.st_size - _TAIL.size), size)
    meta = os.pread(fd, meta_len, offset + _HEAD.size)
    if len(meta) != meta_len or zlib.crc32(meta) != meta_crc:
        raise ImageError("image metadata is damaged (checksum mismatch)")
    hdr = _parse_meta(meta, offset + blob_offset, blob_size, blob_crc)
    if len(_header_cache) > 64:
        _header_cache.clear()
    _header_cache[key] = hdr
    return hdr


def loads_header(data_or_path) -> ImageHeader:
    """Parse and check an image (bytes or a path): magic, length, all checksums.
    (map_image does not call this: it checks the blob on the pages it maps.)"""
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        return _header_from_bytes(data_or_path)[0]
    fd = _open(data_or_path)
    try:
        hdr = _header_from_file(fd)
        crc, pos, end = 0, hdr.blob_offset, hdr.blob_offset + hdr.blob_size
        while pos < end:
            chunk = os.pread(fd, min(end - pos, 1 << 20), pos)
            if not chunk:
                raise ImageError("image file is truncated")
            crc, pos = zlib.crc32(chunk, crc), pos + len(chunk)
        if crc != hdr.blob_crc:
            raise ImageError("image blob is damaged (checksum mismatch)")
        return hdr
    finally:
        os.close(fd)


def loads(data) -> Image:
    """The Image of a dumps() result (checksums checked)."""
    hdr, blob = _header_from_bytes(data)
    ext = hdr.ext_relocs
    return Image(blob=bytes(blob), segments=hdr.segments, symbols=hdr.symbols, imports=hdr.imports,
                 got_offset=hdr.got_offset, base_relocs=list(hdr.base_relocs),
                 ext_relocs=[tuple(ext[i:i + 3]) for i in range(0, len(ext), 3)],
                 section_offsets=hdr.section_offsets, weak_imports=hdr.weak_imports)


def _open(path) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ImageError(f"cannot open image {os.fspath(path)}: {exc.strerror}") from None


# --- mapping --------------------------------------------------------------------------------

_MAP_PRIVATE, _MAP_ANONYMOUS = mmap.MAP_PRIVATE, mmap.MAP_ANONYMOUS
_RW = mmap.PROT_READ | mmap.PROT_WRITE
_MAP_FAILED = ctypes.c_void_p(-1).value


class _Libc:
    """mmap/mprotect/munmap through our own CDLL instance, so our argtypes bind nobody else."""

    def __init__(self):
        lib = ctypes.CDLL(None, use_errno=True)
        self.mmap = lib.mmap
        self.mmap.restype = ctypes.c_void_p
        self.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        self.mprotect = lib.mprotect
        self.mprotect.restype = ctypes.c_int
        self.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.munmap = lib.munmap
        self.munmap.restype = ctypes.c_int
        self.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


_libc: _Libc | None = None


def _c() -> _Libc:
    global _libc
    if _libc is None:
        _libc = _Libc()
    return _libc


def _os_error(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


class LoadedImage:
    """An image mapped at ``base``; code RX, read-only data and the GOT R, data RW."""

    def __init__(self, base: int, header: ImageHeader, mapped: int):
        self.base = base
        self.size = header.blob_size
        self.header = header
        self.symbols = header.symbols
        self._mapped = mapped     # bytes to munmap: one page even for an empty image

    def address(self, name: str) -> int:
        """Address of a defined symbol (KeyError if the image does not define it)."""
        if not self.base:
            raise ImageError("image is closed")
        return self.base + self.symbols[name][0]

    def close(self) -> None:
        """Unmap the image.  Safe to call twice; nothing may run its code afterwards."""
        if self.base:
            base, self.base = self.base, 0
            if _c().munmap(base, self._mapped) != 0:
                raise _os_error("munmap")

    def __enter__(self) -> "LoadedImage":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LoadedImage at {self.base:#x}, {self.size} bytes>" if self.base else "<LoadedImage closed>"


def _header_of_image(image: Image) -> ImageHeader:
    return ImageHeader(
        segments=image.segments, symbols=image.symbols, imports=image.imports,
        weak_imports=image.weak_imports, got_offset=image.got_offset,
        base_relocs=image.base_relocs, ext_relocs=[x for r in image.ext_relocs for x in r],
        section_offsets=image.section_offsets, blob_offset=0, blob_size=len(image.blob), blob_crc=0)


def map_image(source: Image | str | os.PathLike | bytes, resolve: Callable[[str], int | None], *,
              verify: bool = True, offset: int = 0) -> LoadedImage:
    """Map an image at a fresh address, fill its GOT with ``resolve(name)`` for every import
    (KeyError or None: unknown), apply its load-time relocations and set the final protections.

    A path is mapped MAP_PRIVATE from the file, so code pages are shared between processes;
    its blob's crc32 is checked on the mapped pages unless ``verify`` is false; ``offset``
    says where the image starts in the file (a .cwasm: the image is the file's tail).  An
    Image (or the bytes of an image file) is copied into an anonymous mapping.
    """
    c = _c()
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = loads(source)
    if isinstance(source, Image):
        if len(source.blob) % PAGE:
            raise ImageError("image blob is not page-sized")
        hdr = _header_of_image(source)
    else:
        fd = _open(source)
        try:
            hdr = _header_from_file(fd, offset)
            base = None
            if hdr.blob_size:
                base = c.mmap(None, hdr.blob_size, _RW, _MAP_PRIVATE, fd, hdr.blob_offset)
                if base in (None, _MAP_FAILED):
                    raise _os_error(f"mmap of {os.fspath(source)}")
        finally:
            os.close(fd)
        if base and verify and zlib.crc32((ctypes.c_ubyte * hdr.blob_size).from_address(base)) != hdr.blob_crc:
            c.munmap(base, hdr.blob_size)
            raise ImageError(f"image blob of {os.fspath(source)} is damaged (checksum mismatch)")
    if isinstance(source, Image) or not hdr.blob_size:
        # An empty image still gets a (PROT_NONE) page: a unique, non-zero base.
        length = hdr.blob_size or PAGE
        base = c.mmap(None, length, _RW if hdr.blob_size else 0,   # PROT_NONE
                      _MAP_PRIVATE | _MAP_ANONYMOUS, -1, 0)
        if base in (None, _MAP_FAILED):
            raise _os_error("mmap")
        if hdr.blob_size:
            ctypes.memmove(base, source.blob, hdr.blob_size)
    loaded = LoadedImage(base, hdr, hdr.blob_size or PAGE)
    try:
        _relocate(base, hdr, resolve)
        for off, size, prot in hdr.segments:
            if c.mprotect(base + off, size, prot) != 0:
                raise _os_error("mprotect")
    except BaseException:
        loaded.close()
        raise
    return loaded


def _relocate(base: int, hdr: ImageHeader, resolve: Callable[[str], int | None]) -> None:
    """Write the GOT, then the words that need the load address or an import's address."""
    weak = set(hdr.weak_imports)
    addrs = array("Q", bytes(8 * len(hdr.imports)))
    for k, name in enumerate(hdr.imports):
        try:
            a = resolve(name)
        except KeyError:
            a = None
        if a is None:
            if k not in weak:
                raise ImageError(f"unresolved import {name}")
            a = 0
        addrs[k] = a
    mem = memoryview((ctypes.c_ubyte * hdr.blob_size).from_address(base)).cast("B")
    got = hdr.got_offset
    mem[got:got + 8 * len(addrs)] = memoryview(addrs).cast("B")
    words = mem.cast("Q")
    pack_into, unpack_from = struct.pack_into, struct.unpack_from
    mask = _MASK64
    for off in hdr.base_relocs:
        if off & 7:   # unaligned: packed data, rare
            pack_into("<Q", mem, off, (unpack_from("<Q", mem, off)[0] + base) & mask)
        else:
            words[off >> 3] += base
    ext = hdr.ext_relocs
    for i in range(0, len(ext), 3):
        off, k, addend = ext[i], ext[i + 1], ext[i + 2]
        value = (addrs[k] + addend) & mask
        if off & 7:
            pack_into("<Q", mem, off, value)
        else:
            words[off >> 3] = value


# --- the running process's symbols ----------------------------------------------------------

_process_libs: list[ctypes.CDLL] | None = None


def process_symbol(name: str) -> int | None:
    """Address of a symbol of the running process (libc, libm, ...), or None."""
    global _process_libs
    if _process_libs is None:
        _process_libs = [ctypes.CDLL(None)]
    address = _lookup(name)
    if address is None and len(_process_libs) == 1 and _add_libm():
        address = _lookup(name)
    return address


def _lookup(name: str) -> int | None:
    for lib in _process_libs:
        try:
            return ctypes.cast(lib[name], ctypes.c_void_p).value
        except AttributeError:
            continue
    return None


def _add_libm() -> bool:
    """Load libm for a symbol the process lacks (Python links libm, so this is rare), by its
    glibc soname first: ``ctypes.util.find_library`` runs ``ldconfig -p`` in a subprocess,
    which cost every start a few ms when it was called up front."""
    try:
        _process_libs.append(ctypes.CDLL("libm.so.6"))
        return True
    except OSError:
        pass
    from ctypes.util import find_library     # (`import ctypes.util` here would make ctypes a local)
    soname = find_library("m")
    try:
        if soname:
            _process_libs.append(ctypes.CDLL(soname))
            return True
    except OSError:
        pass
    return False
