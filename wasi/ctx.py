"""WasiConfig (what the embedder asks for) and WasiCtx (the state host functions see)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Union

from .errors import WasiError
from .abi import Errno
from .fdtable import Dir, FdTable, Stream
from .memory import GuestMemory
from .perms import DirPerms, FilePerms, perms_of

#: How a stdio stream is given: None (inherit the process's fd 0/1/2), a host fd
#: (borrowed), an object with ``fileno()`` (borrowed) or a path (opened, owned).
StdioSpec = Union[None, int, str, os.PathLike, object]


@dataclass
class WasiConfig:
    """What a guest gets: arguments, environment, preopened directories, stdio."""

    args: list[str] = field(default_factory=list)            # args[0] is the program name
    env: list[tuple[str, str]] = field(default_factory=list)
    # (host dir, guest path), or (host dir, guest path, DirPerms, FilePerms) (wasi/perms.py)
    preopens: list[tuple] = field(default_factory=list)
    stdin: StdioSpec = None
    stdout: StdioSpec = None
    stderr: StdioSpec = None

    def preopen_dir(self, host: str, guest: str, dir_perms=DirPerms.READ_WRITE,
                    file_perms=FilePerms.READ_WRITE) -> None:
        """Preopen ``host`` as ``guest`` (wasmtime-py's ``preopen_dir``).  ``dir_perms`` may
        also be a bool, wasmtime-py 50's ``fs_mutable`` (False: read-only all the way down)."""
        if isinstance(dir_perms, bool):
            dir_perms, file_perms = perms_of(dir_perms)
        self.preopens.append((os.fspath(host), guest, DirPerms(dir_perms), FilePerms(file_perms)))


def _open_stdio(spec: StdioSpec, default_fd: int, readable: bool) -> Stream:
    if spec is None:
        return Stream(default_fd, owned=False, readable=readable)
    if isinstance(spec, int):
        return Stream(spec, owned=False, readable=readable)
    if isinstance(spec, (str, bytes, os.PathLike)):
        flags = os.O_RDONLY if readable else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        return Stream(os.open(spec, flags | os.O_CLOEXEC, 0o666), owned=True, readable=readable)
    return Stream(spec.fileno(), owned=False, readable=readable)


class WasiCtx:
    """Per-instance WASI state: arguments, environment, descriptors and clocks.

    The runtime sets ``memory`` (an object whose ``view()`` is the current linear
    memory) after instantiation.  ``trace``, if set, receives one line per host call.
    Host stdio is written with ``os.write`` on the raw fds: nothing is buffered in
    Python, so output is never lost or reordered when the guest exits.
    """

    def __init__(self, config: WasiConfig):
        self.config = config
        self.args = [a.encode("utf-8", "surrogateescape") for a in config.args]
        self.env = [f"{k}={v}".encode("utf-8", "surrogateescape") for k, v in config.env]
        self.memory = None
        self._guest_memory: GuestMemory | None = None
        self._guest_view = None
        self.trace: Callable[[str], None] | None = None
        # Monotonic time counts from the context's creation, as in wasmtime: the
        # guest learns nothing about the host's uptime.
        self.monotonic_base = time.monotonic_ns()
        self.fds = FdTable()
        try:
            self.fds.add(_open_stdio(config.stdin, 0, readable=True))
            self.fds.add(_open_stdio(config.stdout, 1, readable=False))
            self.fds.add(_open_stdio(config.stderr, 2, readable=False))
            for host, guest, *perms in config.preopens:
                dir_perms, file_perms = perms_of(tuple(perms) if perms else None)
                fd = os.open(host, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                self.fds.add(Dir(fd, preopen=guest, perms=dir_perms, file_perms=file_perms))
        except BaseException:
            self.close()
            raise

    def mem(self) -> GuestMemory:
        """Guest memory for the current host call (never keep it across calls)."""
        if self.memory is None:
            raise WasiError(Errno.FAULT)
        view = self.memory.view()
        # Reuse the accessor while the memory hands out the same view (it does until it grows).
        if self._guest_memory is None or self._guest_view is not view:
            self._guest_memory = GuestMemory(view)
            self._guest_view = view
        return self._guest_memory

    def monotonic_ns(self) -> int:
        return time.monotonic_ns() - self.monotonic_base

    def close(self) -> None:
        """Close every host fd the context owns (inherited stdio is left open)."""
        self.fds.close_all()

    def __enter__(self) -> WasiCtx:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
