"""Drive WASI host functions without a JIT, on wasirun's host or on wasmtime's.

``HostGuest`` calls ``WASI_FUNCTIONS[name].impl`` with a ``WasiCtx`` over a plain
``bytearray`` memory.  ``WasmtimeGuest`` makes the same calls through wasmtime's
own preview1 implementation (the ``wasmtime`` package): a generated module forwards
every import to an export of the same name.  Both expose the same small API, so a
test can state one expectation and check it against both hosts: the reference
behaviour and ours cannot drift apart silently.
"""
from __future__ import annotations

import os
import struct

from wasi.abi import IOVEC, Lookupflags, Rights
from wasi.ctx import WasiConfig, WasiCtx
from wasi.errors import ProcExit
from wasi.perms import DirPerms, perms_of
from wasi.registry import WASI_FUNCTIONS

PAGE = 65536
# Scratch areas the helpers use; tests keep their own data clear of them.
RESULT_AT = 64        # out-parameters (u32/u64 results)
IOV_AT = 256          # an iovec array
PATH_AT = 1024        # path strings (two of up to 2 KiB)
DATA_AT = 8192        # I/O buffers

READ = Rights.FD_READ | Rights.FD_SEEK | Rights.FD_TELL | Rights.FD_FILESTAT_GET | Rights.FD_READDIR
READ_WRITE = READ | Rights.FD_WRITE | Rights.FD_FILESTAT_SET_SIZE


class FakeMemory:
    """The runtime's memory object, reduced to what the host uses: ``view()``."""

    def __init__(self, size: int):
        self.data = bytearray(size)

    def view(self) -> memoryview:
        return memoryview(self.data)


class Guest:
    """Common helpers over ``call``/``read``/``write``."""

    def call(self, name: str, *args: int) -> int | None:
        raise NotImplementedError

    def read(self, ptr: int, size: int) -> bytes:
        raise NotImplementedError

    def write(self, ptr: int, data: bytes) -> None:
        raise NotImplementedError

    def u32(self, ptr: int) -> int:
        return struct.unpack("<I", self.read(ptr, 4))[0]

    def u64(self, ptr: int) -> int:
        return struct.unpack("<Q", self.read(ptr, 8))[0]

    def put_path(self, path: str | bytes, second: bool = False) -> tuple[int, int]:
        """Write a path string to scratch memory; (ptr, len) to pass on."""
        data = path.encode() if isinstance(path, str) else path
        ptr = PATH_AT + (2048 if second else 0)
        self.write(ptr, data)
        return ptr, len(data)

    def path_call(self, name: str, fd: int, path: str | bytes, *rest: int) -> int:
        """Call a ``name(fd, path, path_len, *rest)`` function."""
        return self.call(name, fd, *self.put_path(path), *rest)

    def open(self, dirfd: int, path: str | bytes, oflags: int = 0, rights: int = READ,
             fdflags: int = 0, dirflags: int = Lookupflags.SYMLINK_FOLLOW) -> tuple[int, int | None]:
        """path_open; (errno, new fd or None)."""
        ptr, size = self.put_path(path)
        errno = self.call("path_open", dirfd, dirflags, ptr, size, oflags, rights, rights,
                          fdflags, RESULT_AT)
        return errno, (self.u32(RESULT_AT) if errno == 0 else None)

    def write_fd(self, fd: int, *chunks: bytes, offset: int | None = None) -> tuple[int, int]:
        """fd_write (or fd_pwrite at ``offset``) of ``chunks`` as one iovec each; (errno, n)."""
        addr = DATA_AT
        for i, chunk in enumerate(chunks):
            self.write(addr, chunk)
            self.write(IOV_AT + i * IOVEC.size, IOVEC.pack(addr, len(chunk)))
            addr += len(chunk)
        if offset is None:
            errno = self.call("fd_write", fd, IOV_AT, len(chunks), RESULT_AT)
        else:
            errno = self.call("fd_pwrite", fd, IOV_AT, len(chunks), offset, RESULT_AT)
        return errno, (self.u32(RESULT_AT) if errno == 0 else None)

    def read_fd(self, fd: int, size: int, offset: int | None = None) -> tuple[int, bytes | None]:
        """fd_read (or fd_pread at ``offset``) into one buffer; (errno, data)."""
        self.write(IOV_AT, IOVEC.pack(DATA_AT, size))
        if offset is None:
            errno = self.call("fd_read", fd, IOV_AT, 1, RESULT_AT)
        else:
            errno = self.call("fd_pread", fd, IOV_AT, 1, offset, RESULT_AT)
        return errno, (self.read(DATA_AT, self.u32(RESULT_AT)) if errno == 0 else None)

    def seek(self, fd: int, offset: int, whence: int) -> tuple[int, int | None]:
        errno = self.call("fd_seek", fd, offset % (1 << 64), whence, RESULT_AT)
        return errno, (self.u64(RESULT_AT) if errno == 0 else None)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class HostGuest(Guest):
    backend = "wasirun"

    def __init__(self, config: WasiConfig, pages: int = 2):
        self.ctx = WasiCtx(config)
        self.memory = FakeMemory(pages * PAGE)
        self.ctx.memory = self.memory

    def call(self, name, *args):
        return WASI_FUNCTIONS[name].impl(self.ctx, *args)

    def read(self, ptr, size):
        return bytes(self.memory.data[ptr:ptr + size])

    def write(self, ptr, data):
        self.memory.data[ptr:ptr + len(data)] = data

    def close(self):
        self.ctx.close()


def forwarding_wat(pages: int = 2) -> str:
    """A module importing every WASI function and exporting a forwarder for each.

    Forwarders (rather than re-exported imports) make the host call come from a
    wasm instance, whose exported memory wasmtime then uses."""
    imports, funcs = [], []
    for f in WASI_FUNCTIONS.values():
        params = " ".join(f.params)
        result = f"(result {' '.join(f.results)})" if f.results else ""
        gets = " ".join(f"local.get {i}" for i in range(len(f.params)))
        imports.append(f'(import "{f.module}" "{f.name}" (func ${f.name} (param {params}) {result}))')
        funcs.append(f'(func (export "{f.name}") (param {params}) {result} {gets} call ${f.name})')
    return "\n".join(["(module", *imports, f'(memory (export "memory") {pages})', *funcs, ")"])


class WasmtimeGuest(Guest):
    """The same calls answered by wasmtime's WASI (stdio specs must be paths or None)."""

    backend = "wasmtime"

    def __init__(self, config: WasiConfig, pages: int = 2):
        import wasmtime

        self._wasmtime = wasmtime
        engine = wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv = list(config.args)
        wasi.env = [list(kv) for kv in config.env]
        for host, guest, *perms in config.preopens:
            # wasmtime-py 50 takes one bool (fs_mutable): read-only is DirPerms.READ + FilePerms.READ
            dir_perms, file_perms = perms_of(tuple(perms) if perms else None)
            wasi.preopen_dir(str(host), guest, bool(dir_perms & DirPerms.MUTATE))
        for stream, spec in (("stdin", config.stdin), ("stdout", config.stdout),
                             ("stderr", config.stderr)):
            if spec is None:
                getattr(wasi, f"inherit_{stream}")()
            else:
                setattr(wasi, f"{stream}_file", os.fspath(spec))   # write-only properties
        self.store.set_wasi(wasi)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        module = wasmtime.Module(engine, forwarding_wat(pages))
        self.exports = linker.instantiate(self.store, module).exports(self.store)
        self.memory = self.exports["memory"]

    def call(self, name, *args):
        params = WASI_FUNCTIONS[name].params
        signed = [a - (1 << 64) if t == "i64" and a >= 1 << 63 else
                  a - (1 << 32) if t == "i32" and a >= 1 << 31 else a
                  for t, a in zip(params, args)]
        try:
            return self.exports[name](self.store, *signed)
        except self._wasmtime.ExitTrap as exit_:
            raise ProcExit(exit_.code) from None

    def read(self, ptr, size):
        return bytes(self.memory.read(self.store, ptr, ptr + size))

    def write(self, ptr, data):
        self.memory.write(self.store, data, ptr)


BACKENDS = {"wasirun": HostGuest, "wasmtime": WasmtimeGuest}


class GuestFactory:
    """Builds guests of one backend from ``WasiConfig`` keywords; closes them all."""

    def __init__(self, backend: str):
        self.backend = backend
        self._guests: list[Guest] = []

    def __call__(self, **config) -> Guest:
        guest = BACKENDS[self.backend](WasiConfig(**config))
        self._guests.append(guest)
        return guest

    def close(self) -> None:
        for guest in self._guests:
            guest.close()
