"""Path resolution beneath a directory descriptor: the one audited place.

A guest path is never handed to the host kernel as a path.  It is walked one
component at a time, openat-style, from the directory descriptor it is relative to:

* every intermediate directory is opened with ``O_PATH | O_DIRECTORY | O_NOFOLLOW``
  relative to the fd of its parent, so the kernel never follows a symlink or a
  ``..`` on our behalf;
* ``..`` pops our own stack of directory fds, and popping the base is an escape;
* a symlink met on the way is read with ``readlinkat`` and its target spliced into
  the walk under the same rules (an absolute target is an escape);
* the walk ends at a *(directory fd, single name)* pair; callers act on it with the
  ``*at`` calls in their no-follow forms (``O_NOFOLLOW``, ``follow_symlinks=False``).

This closes the time-of-check/time-of-use races of "resolve then use a path": if a
directory is swapped for a symlink mid-walk, the ``O_NOFOLLOW`` open fails and the
link gets expanded under our rules instead; if the final name is swapped for a
symlink, the no-follow operation acts on the link itself.  Like cap-std (which
wasmtime uses), a directory moved out of the tree by the host while we hold it is
not detected.

Escapes report ``PERM``, as wasmtime does (cap-std's "a path led outside of the
filesystem"); the witx's ``NOTCAPABLE`` is what older hosts returned.
"""
from __future__ import annotations

import collections
import errno
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .abi import Errno
from .errors import WasiError

MAX_SYMLINK_EXPANSIONS = 40  # Linux's MAXSYMLINKS: beyond it, LOOP
ESCAPE = Errno.PERM

_WALK_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Resolved:
    """Where a path ends: the entry ``name`` inside the real directory ``dir_fd``.

    ``name`` is a single component, never ``..``; ``"."`` means ``dir_fd`` itself.
    ``dir_fd`` is only valid inside the ``resolve`` block.
    """

    dir_fd: int
    name: str


def _components(path: str) -> list[str]:
    return [c for c in path.split("/") if c not in ("", ".")]


def _readlink(dir_fd: int, name: str) -> str | None:
    """The target of symlink ``name``, or None if it is not a symlink (or missing)."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in (errno.EINVAL, errno.ENOENT):
            return None
        raise


@contextmanager
def resolve(base_fd: int, path: str, *, follow: bool = False) -> Iterator[Resolved]:
    """Resolve guest ``path`` beneath directory ``base_fd``.

    ``follow`` expands a symlink in the final component too (``symlink_follow``).
    A trailing ``/`` (or ``/.``) also follows the final component, and requires it to
    be a directory if it exists (``NOTDIR`` otherwise).  Raises ``WasiError``
    (``NOENT`` for "", ``INVAL`` for a NUL byte, ``PERM`` for an escape, ``LOOP``)
    or the host ``OSError`` of a failed step.
    """
    if "\0" in path:
        raise WasiError(Errno.INVAL)
    if not path:
        raise WasiError(Errno.NOENT)
    if path.startswith("/"):
        raise WasiError(ESCAPE)

    raw = path.split("/")
    must_be_dir = len(raw) > 1 and raw[-1] in ("", ".")
    follow_last = follow or must_be_dir
    pending = collections.deque(_components(path))
    stack = [base_fd]           # stack[0] is borrowed, the rest are ours to close
    expansions = 0
    name = "."
    try:
        while pending:
            comp = pending.popleft()
            last = not pending
            name = "."
            if comp == "..":
                if len(stack) == 1:
                    raise WasiError(ESCAPE)
                os.close(stack.pop())
                continue
            if last and not follow_last:
                name = comp
                break
            if last:
                target = _readlink(stack[-1], comp)
                if target is None:
                    name = comp
                    break
            else:
                try:
                    stack.append(os.open(comp, _WALK_FLAGS, dir_fd=stack[-1]))
                    continue
                except OSError as err:
                    # ENOTDIR/ELOOP: not a real directory; it may be a symlink to expand.
                    target = _readlink(stack[-1], comp) if err.errno in (errno.ENOTDIR, errno.ELOOP) else None
                    if target is None:
                        raise
            expansions += 1
            if expansions > MAX_SYMLINK_EXPANSIONS:
                raise WasiError(Errno.LOOP)
            if not target:
                raise WasiError(Errno.NOENT)
            if target.startswith("/"):
                raise WasiError(ESCAPE)
            if last and target.endswith(("/", "/.")):
                must_be_dir = True
            pending.extendleft(reversed(_components(target)))

        if must_be_dir and name != ".":
            try:
                st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
            except FileNotFoundError:
                pass                      # "newdir/" for mkdir, or a NOENT for the caller
            else:
                if not stat.S_ISDIR(st.st_mode):
                    raise WasiError(Errno.NOTDIR)
        yield Resolved(stack[-1], name)
    finally:
        for fd in stack[1:]:
            os.close(fd)


def check_symlink_target(target: str | bytes) -> None:
    """Symlink contents the guest may create or read: relative ones only, as wasmtime.

    Following a relative link is resolved beneath the preopen anyway; an absolute
    one could never be followed, and reading it would show a host path.
    """
    if "\0" in (target if isinstance(target, str) else target.decode("latin-1")):
        raise WasiError(Errno.INVAL)
    if target[:1] in ("/", b"/"):
        raise WasiError(ESCAPE)
