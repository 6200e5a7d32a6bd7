"""A thread-local block for the runtime's per-thread state, from glibc's static TLS.

Our loader (runner/loader.py) maps code itself, so the dynamic linker knows nothing of
it and cannot give it thread-local storage.  Instead we hand glibc a tiny shared object
of our own making: no code, one ``PT_TLS`` segment of ``size`` bytes and one
``R_X86_64_TPOFF64`` relocation into a data word.  ``dlopen`` then allocates the block
in the static TLS area of every thread (existing ones included: glibc initialises them
all), and resolving the relocation writes the block's offset from the thread pointer
into the word.  Generated code reaches the block as an initial-exec TLS variable
(``movq sym@GOTTPOFF(%rip), %rax; movq %fs:field(%rax), ...``): the loader fills that
GOT slot with the offset (``loader.TLS_IMPORTS``).  Cost per access: the same two
loads as a plain external global.
"""
from __future__ import annotations

import ctypes
import os
import struct
import threading

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SYM = struct.Struct("<IBBHQQ")
_RELA = struct.Struct("<QQq")
_DYN = struct.Struct("<qQ")

PT_LOAD, PT_DYNAMIC, PT_TLS, PT_GNU_STACK = 1, 2, 7, 0x6474E551
PF_R, PF_W = 4, 2
DT_NULL, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_RELA, DT_RELASZ, DT_RELAENT, DT_STRSZ, DT_SYMENT = 0, 4, 5, 6, 7, 8, 9, 10, 11
DT_FLAGS, DF_STATIC_TLS = 30, 0x10
STT_TLS, R_X86_64_TPOFF64 = 6, 18
RTLD_DI_LINKMAP = 2


def tls_object(size: int, align: int = 64) -> tuple[bytes, int]:
    """The shared object's bytes and the file offset (= address offset) of the word that
    receives the block's offset from the thread pointer."""
    phdrs = 4
    pos = _EHDR.size + phdrs * _PHDR.size
    symtab = pos
    pos += 2 * _SYM.size                     # the null symbol, a local TLS symbol at offset 0
    strtab = pos
    pos += 8                                 # "\0"
    hashtab = pos
    pos += 5 * 4                             # nbucket=1, nchain=2, bucket, 2 chains
    pos = (pos + 7) & ~7
    rela = pos
    pos += _RELA.size
    word = pos
    pos += 8
    dyn = pos
    dyns = [(DT_HASH, hashtab), (DT_STRTAB, strtab), (DT_SYMTAB, symtab), (DT_RELA, rela),
            (DT_RELASZ, _RELA.size), (DT_RELAENT, _RELA.size), (DT_STRSZ, 8), (DT_SYMENT, _SYM.size),
            (DT_FLAGS, DF_STATIC_TLS), (DT_NULL, 0)]
    pos += len(dyns) * _DYN.size
    out = bytearray(pos)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0, 0]) + bytes(7)          # 64-bit, little-endian, SysV
    _EHDR.pack_into(out, 0, ident, 3, 62, 1, 0, _EHDR.size, 0, 0, _EHDR.size, _PHDR.size, phdrs, 64, 0, 0)
    for i, ph in enumerate([
            (PT_LOAD, PF_R | PF_W, 0, 0, 0, pos, pos, 0x1000),
            (PT_DYNAMIC, PF_R | PF_W, dyn, dyn, dyn, len(dyns) * _DYN.size, len(dyns) * _DYN.size, 8),
            (PT_TLS, PF_R, 0, 0, 0, 0, size, align),                  # .tbss only: zero-filled per thread
            (PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 0, 16)]):         # or glibc makes every stack executable
        _PHDR.pack_into(out, _EHDR.size + i * _PHDR.size, *ph)
    _SYM.pack_into(out, symtab + _SYM.size, 0, STT_TLS, 0, 1, 0, size)   # STB_LOCAL: binds to this object
    struct.pack_into("<5I", out, hashtab, 1, 2, 0, 0, 0)
    _RELA.pack_into(out, rela, word, (1 << 32) | R_X86_64_TPOFF64, 0)
    for i, d in enumerate(dyns):
        _DYN.pack_into(out, dyn + i * _DYN.size, *d)
    return bytes(out), word


class TlsBlock:
    """``size`` bytes of static TLS in every thread: ``offset`` from the thread pointer."""

    def __init__(self, size: int):
        data, word = tls_object(size)
        fd = os.memfd_create("wasirun-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            try:
                self._lib = ctypes.CDLL(f"/proc/self/fd/{fd}")    # kept for the process's life
            except OSError as exc:
                raise OSError(f"cannot get {size} bytes of thread-local storage from the dynamic "
                              f"linker: {exc}") from None
        finally:
            os.close(fd)
        libc = ctypes.CDLL(None)
        link_map = ctypes.c_void_p()
        if libc.dlinfo(ctypes.c_void_p(self._lib._handle), RTLD_DI_LINKMAP, ctypes.byref(link_map)) != 0:
            raise OSError("dlinfo(RTLD_DI_LINKMAP) failed on the TLS object")
        l_addr = ctypes.c_uint64.from_address(link_map.value).value    # struct link_map.l_addr
        self.offset = ctypes.c_int64.from_address(l_addr + word).value
        self.size = size


_block: TlsBlock | None = None
_lock = threading.Lock()


def tls_block(size: int) -> TlsBlock:
    """The process's one block (made on first use; ``size`` must not change)."""
    global _block
    with _lock:
        if _block is None:
            _block = TlsBlock(size)
        elif _block.size != size:
            raise ValueError("the TLS block's size is fixed once made")
        return _block
