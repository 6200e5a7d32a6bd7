"""The on-disk cache of compiled code: one directory per module key, one file pair per unit.

A *unit* is code for some of a module's functions at one code level (runner/jit.py):
``base`` for all of them (the first tier), ``top`` for all of them (``wasirun compile``,
``--no-tiering``), or a tier-up unit for the functions that were hot in some run.  Each
is a linked image (runner/loader.py; it carries its own checksum) and a small JSON file
saying what the image holds.  A run maps every unit of its key, so what a run tiered up
starts at the top tier next time.

Writers never collide: each file is written under a unique temporary name and renamed
into place, and units are named by what they contain.  Tier-up units are compiled under
claims (``CodeCache.claim``: which functions a process is compiling, taken under a short
per-key lock), so processes running one module at once compile each hot function once: the
one that waited finds it stored.  Entries are evicted least
recently used first once the cache passes its size cap (``WASIRUN_CACHE_SIZE`` bytes,
default 1 GiB).  The key covers the wasm bytes, the options that change code, the
source of everything under runner/ (translator, runtime ABI, trap codes, validator) and
the host's CPU and LLVM build; not the file's name.
"""
from __future__ import annotations

import importlib.machinery
import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache

# Paths here are strings (os.path): pathlib (3 ms of import with urllib.parse and ipaddress)
# and shutil (~2 ms: bz2, lzma, fnmatch) are not part of a warm start (tests/test_startup.py).

try:    # what hashlib.blake2b is; importing hashlib itself loads OpenSSL (~1.8 ms of a warm start)
    from _blake2 import blake2b as _blake2b
except ImportError:  # pragma: no cover - a Python without the builtin module
    from hashlib import blake2b as _blake2b

DEFAULT_SIZE_CAP = 1 << 30
FORMAT = "code-v1"


def hash256(data: bytes = b""):
    """The cache's 256-bit hash (blake2b): keys, source fingerprints, unit names."""
    return _blake2b(data, digest_size=32)


def cache_root():
    """The root of wasirun's caches (compiled code, decoded DWARF), a Path."""
    from pathlib import Path
    return Path(_root_dir())


def _root_dir() -> str:
    return os.environ.get("WASIRUN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wasirun")


@lru_cache(maxsize=None)
def code_fingerprint() -> str:
    """Hash of wasirun's own code generator and runtime, the host CPU and the LLVM build.

    Hashing the ~0.5 MB of source costs ~7 ms, a tenth of a warm start, so the result is
    remembered in the cache root under a hash of the files' names, sizes and mtimes (what
    Python itself trusts for its .pyc files); any edit changes the stamp and re-hashes."""
    here = os.path.dirname(os.path.realpath(__file__))
    files = sorted(_source_files(here))
    host = _host_cpu() + "\0" + _llvm_build()
    stamp = hash256(repr([(rel, st.st_size, st.st_mtime_ns) for rel, _, st in files]).encode()
                    + host.encode()).hexdigest()
    memos = os.path.join(_root_dir(), "fingerprints")
    memo = os.path.join(memos, stamp)
    try:
        with open(memo) as f:
            known = f.read()
        if len(known) == 64:
            return known
    except (OSError, UnicodeDecodeError):
        pass
    h = hash256()
    for rel, path, _ in files:
        h.update(rel.encode())
        with open(path, "rb") as f:
            h.update(f.read())
    h.update(_host_cpu().encode())
    h.update(_llvm_build().encode())
    digest = h.hexdigest()
    try:
        os.makedirs(memos, exist_ok=True)
        tmp = os.path.join(memos, f"{stamp}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            f.write(digest)
        os.replace(tmp, memo)
    except OSError:
        pass    # a read-only cache: hash the sources on every start
    return digest


def _source_files(root: str, rel: str = ""):
    """(relative path, path, stat) of every .py file under ``root``, skipping __pycache__."""
    with os.scandir(root) as it:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    yield from _source_files(entry.path, rel + entry.name + "/")
            elif entry.name.endswith(".py"):
                yield rel + entry.name, entry.path, entry.stat()


def _host_cpu() -> str:
    """CPU model and feature flags, without asking LLVM (a warm run never imports it)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read(65536)
    except OSError:
        return os.uname().machine
    first = text.split("\n\n", 1)[0]
    keep = [line for line in first.splitlines() if line.split(":")[0].strip() in ("vendor_id", "model name", "flags")]
    return os.uname().machine + "|" + "|".join(keep)


def _llvm_build() -> str:
    # PathFinder, not importlib.util.find_spec: the same search of sys.path for a top-level
    # package, without importing importlib.util
    spec = importlib.machinery.PathFinder.find_spec("llvmlite")
    if spec is None or not spec.submodule_search_locations:
        return "no-llvmlite"
    lib = os.path.join(list(spec.submodule_search_locations)[0], "binding", "libllvmlite.so")
    try:
        st = os.stat(lib)
        return f"{lib}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        return lib


def module_key(wasm: bytes, options: str) -> str:
    h = hash256(wasm)
    h.update(b"\0" + options.encode() + b"\0" + code_fingerprint().encode())
    return h.hexdigest()


@dataclass(frozen=True)
class StoredUnit:
    """One cached image and what it holds (``meta``: see runner/tiers.py CodeUnit)."""
    name: str                    # "base", "top" or "hot-<digest>"
    meta: dict
    image: str                   # the image file's path


class CodeCache:
    def __init__(self, root: str | os.PathLike | None = None, size_cap: int | None = None):
        self.root = os.fspath(root) if root else _root_dir()
        self.directory = os.path.join(self.root, FORMAT)
        if size_cap is None:
            size_cap = int(os.environ.get("WASIRUN_CACHE_SIZE") or DEFAULT_SIZE_CAP)
        self.size_cap = size_cap

    def entry(self, key: str) -> str:
        return os.path.join(self.directory, key)

    def units(self, key: str) -> list[StoredUnit]:
        """The units stored under ``key`` (marking the entry as used)."""
        d = self.entry(key)
        try:
            names = os.listdir(d)
        except OSError:
            return []
        out = []
        for n in sorted(names):
            if not n.endswith(".json"):
                continue
            try:
                with open(os.path.join(d, n)) as f:
                    meta = json.load(f)
                image = os.path.join(d, meta["image"])
                if not os.path.exists(image):
                    continue
                out.append(StoredUnit(meta["name"], meta, image))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        if out:
            try:
                os.utime(d)
            except OSError:
                pass
        return out

    def put(self, key: str, name: str, meta: dict, image_bytes: bytes) -> StoredUnit | None:
        """Store one unit; None when the cache cannot be written (that only costs speed)."""
        d = self.entry(key)
        tag = f"{os.getpid()}.{time.monotonic_ns()}"
        try:
            os.makedirs(d, exist_ok=True)
            image = os.path.join(d, f"{name}.img")
            tmp = os.path.join(d, f".{name}.img.{tag}.tmp")
            with open(tmp, "wb") as f:
                f.write(image_bytes)
            os.replace(tmp, image)
            meta = dict(meta, name=name, image=os.path.basename(image))
            tmp = os.path.join(d, f".{name}.json.{tag}.tmp")
            with open(tmp, "w") as f:
                f.write(json.dumps(meta))
            os.replace(tmp, os.path.join(d, f"{name}.json"))
        except OSError:
            return None
        self.evict(keep=key)
        return StoredUnit(name, meta, image)

    LOCK_NAME = ".tierup.lock"

    def locked(self, key: str, timeout: float, create: bool = True):
        """A context holding ``key``'s tier-up lock (an flock, so it dies with its holder),
        waited for at most ``timeout`` seconds; it yields False when it was not had (then
        go on without it: two writers only cost time), None when there is no lock file and
        ``create`` is off, or the cache cannot be written."""
        return _KeyLock(self.entry(key), timeout, create)

    CLAIM_PREFIX = ".claim-"

    def claim(self, key: str, functions) -> "Claim | None":
        """Announce that this process is compiling the top tier of ``functions`` (call it
        under ``locked``): a file listing them, flocked while the claim lives, so a claim
        whose holder died is seen as stale.  None when the cache cannot be written."""
        import fcntl
        d = self.entry(key)
        tag = f"{os.getpid()}.{time.monotonic_ns()}"
        tmp = os.path.join(d, f".claiming.{tag}.tmp")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)          # before the name is visible: never seen unlocked
            os.write(fd, json.dumps(sorted(functions)).encode())
            path = os.path.join(d, self.CLAIM_PREFIX + tag)
            os.replace(tmp, path)
        except OSError:
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return None
        return Claim(path, fd)

    def claims(self, key: str) -> set:
        """The functions live claims of ``key`` cover (stale claims are deleted)."""
        import fcntl
        d = self.entry(key)
        out: set = set()
        try:
            names = [n for n in os.listdir(d) if n.startswith(self.CLAIM_PREFIX)]
        except OSError:
            return out
        for n in names:
            path = os.path.join(d, n)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue       # released meanwhile
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    os.unlink(path)           # nobody holds it: its holder died
                    continue
                except BlockingIOError:
                    pass
                out.update(json.loads(os.read(fd, 1 << 24) or b"[]"))
            except (OSError, ValueError, TypeError):
                pass
            finally:
                os.close(fd)
        return out

    def busy(self, key: str) -> bool:
        """Whether some process is compiling top-tier code of ``key`` now."""
        return bool(self.claims(key))

    def wait_idle(self, key: str, timeout: float, functions=None) -> None:
        """Wait (at most ``timeout`` s) until no live claim of ``key`` covers any of
        ``functions`` (None: any function)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = self.claims(key)
            if not (live if functions is None else live & set(functions)):
                return
            time.sleep(0.01)

    def sweep_temporaries(self, key: str, older_than: float = 600.0) -> None:
        """Delete temporary files a killed writer left in ``key``'s entry (a tier-up finished
        after its process ended can hit its CPU limit mid-write); fresh ones may be in use."""
        d = self.entry(key)
        now = time.time()
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.name.startswith(".") and e.name.endswith(".tmp"):
                        try:
                            if now - e.stat().st_mtime > older_than:
                                os.unlink(e.path)
                        except OSError:
                            pass
        except OSError:
            pass

    def discard(self, unit: StoredUnit) -> None:
        """Remove a unit found damaged, so the next run recompiles it."""
        for p in (unit.image, os.path.splitext(unit.image)[0] + ".json"):
            try:
                os.unlink(p)
            except OSError:
                pass

    def evict(self, keep: str | None = None) -> None:
        """Delete least recently used entries until the cache fits its cap."""
        try:
            entries = []
            total = 0
            for e in os.scandir(self.directory):
                if not e.is_dir(follow_symlinks=False):
                    continue
                size = 0
                for f in os.scandir(e.path):
                    try:
                        size += f.stat(follow_symlinks=False).st_size
                    except OSError:
                        pass
                total += size
                entries.append((e.stat().st_mtime, e.name, size))
        except OSError:
            return
        entries.sort()
        for _, name, size in entries:
            if total <= self.size_cap:
                break
            if name == keep:
                continue
            import shutil
            shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
            total -= size


class Claim:
    """A live claim (CodeCache.claim): ``release`` when the unit is stored or given up."""

    def __init__(self, path: str, fd: int):
        self.path, self.fd = path, fd

    def release(self) -> None:
        if self.fd >= 0:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = -1


class _KeyLock:
    def __init__(self, entry: str, timeout: float, create: bool):
        self.entry, self.timeout, self.create, self.fd = entry, timeout, create, -1

    def __enter__(self) -> bool | None:
        import fcntl
        try:
            lock = os.path.join(self.entry, CodeCache.LOCK_NAME)
            if self.create:
                os.makedirs(self.entry, exist_ok=True)
                self.fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            else:
                self.fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None if not self.create else False
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.01)
            except OSError:
                return False

    def __exit__(self, *exc) -> None:
        if self.fd >= 0:
            os.close(self.fd)     # releases the flock
            self.fd = -1
