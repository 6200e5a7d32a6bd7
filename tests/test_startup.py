"""Start-up: what a warm run (everything in the code cache) imports, and the remembered
source fingerprint of the cache key (issue 11: a warm hello.wasm in under 0.1 s)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HELLO = REPO.parent / "shared" / "bench" / "hello.wasm"

#: Machinery a run that finds its code in the cache must never load.
NOT_ON_A_WARM_START = ("llvmlite", "runner.workers", "runner.compile_worker", "runner.jit", "runner.validate",
                       "runner.translate.module", "runner.profiling.jitdump", "concurrent.futures", "pickle",
                       # ctypes.util.find_library ran `ldconfig -p` in a subprocess
                       "subprocess", "ctypes.util", "_hashlib",   # OpenSSL, for sha256
                       # the cache's paths are strings: pathlib (+ urllib.parse, ipaddress) and
                       # shutil (+ bz2, lzma, fnmatch) cost ~5 ms of import
                       "pathlib", "shutil", "importlib.util")

# What the interpreter loaded before wasirun (this environment's .pth files may import pathlib,
# shutil, ...) does not count: the probe reports what wasirun itself imported.
PROBE = """
import atexit, sys
before = set(sys.modules)
def report():
    sys.stderr.write("loaded: " + " ".join(m for m in %r if m in sys.modules and m not in before) + "\\n")
atexit.register(report)
sys.argv = ["wasirun", *sys.argv[1:]]
from runner.cli import main
main()
""" % (NOT_ON_A_WARM_START,)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("WASIRUN_CACHE_DIR", str(d))
    return d


def _probe(*args):
    return subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not HELLO.exists(), reason="needs /work/shared/bench/hello.wasm")
def test_warm_run_imports_no_compile_machinery(cache_dir, tmp_path):
    wasm = tmp_path / "hello.wasm"
    wasm.write_bytes(HELLO.read_bytes())
    cold = _probe(wasm)
    assert cold.returncode == 0 and cold.stdout == "Hello, world!\n", cold.stderr
    assert "runner.validate" in cold.stderr      # the probe sees what a compile loads
    warm = _probe(wasm)
    assert warm.returncode == 0 and warm.stdout == "Hello, world!\n", warm.stderr
    assert warm.stderr.endswith("loaded: \n"), warm.stderr


def test_profiling_agents_still_importable_from_the_package():
    from runner import profiling
    from runner.profiling.jitdump import JitDumpAgent, read_jitdump
    from runner.profiling.perfmap import PerfMapAgent
    assert profiling.JitDumpAgent is JitDumpAgent and profiling.read_jitdump is read_jitdump
    assert profiling.PerfMapAgent is PerfMapAgent
    assert isinstance(profiling.make_agent("perfmap"), PerfMapAgent)
    with pytest.raises(AttributeError):
        profiling.NoSuchAgent   # noqa: B018


def _fingerprint_in_fresh_process():
    r = subprocess.run([sys.executable, "-c", "from runner.codecache import code_fingerprint; print(code_fingerprint())"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_source_fingerprint_is_remembered_and_checked(cache_dir):
    first = _fingerprint_in_fresh_process()
    memos = list((cache_dir / "fingerprints").iterdir())
    assert len(memos) == 1 and memos[0].read_text() == first and len(first) == 64
    assert _fingerprint_in_fresh_process() == first              # read back
    memos[0].write_text("garbage")                               # a damaged memo is re-hashed
    assert _fingerprint_in_fresh_process() == first
    assert memos[0].read_text() == first


def test_source_fingerprint_covers_every_source_file():
    from runner import codecache
    here = Path(codecache.__file__).resolve().parent
    listed = {rel for rel, _, _ in codecache._source_files(str(here))}
    assert listed == {str(p.relative_to(here)) for p in here.rglob("*.py") if "__pycache__" not in p.parts}
    assert "translate/function.py" in listed and "codecache.py" in listed


GC_PROBE = """
import atexit, gc, sys
default = gc.get_threshold()
atexit.register(lambda: sys.stderr.write(f"gc: {gc.get_threshold() == default} {gc.get_freeze_count() > 1000}\\n"))
sys.argv = ["wasirun", *sys.argv[1:]]
from runner.cli import main
main()
"""


@pytest.mark.skipif(not HELLO.exists(), reason="needs /work/shared/bench/hello.wasm")
def test_the_guest_runs_with_the_default_collector_and_start_up_frozen(cache_dir):
    """Start-up collects rarely (its objects live for the whole run); the guest's host calls get
    Python's default thresholds back, with start-up's objects out of the collector's way."""
    r = subprocess.run([sys.executable, "-c", GC_PROBE, str(HELLO)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout == "Hello, world!\n", r.stderr
    assert r.stderr.endswith("gc: True True\n"), r.stderr


def test_the_editable_install_is_a_plain_path():
    """`pip install -e .` (the README's set-up) gets a .pth holding the project's path, not the
    import finder setuptools uses for a flat layout without ``package-dir`` (whose module,
    pathlib and importlib.util cost ~8.7 ms of every interpreter start: docs/PERFORMANCE.md).
    setuptools picks the plain path when ``package-dir`` is exactly {"": "."}: the wheel built
    from a copy of the project shows which it picked, where setuptools can build one here."""
    import shutil
    import tomllib
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["package-dir"] == {"": "."}
    pytest.importorskip("wheel")     # setuptools' build_editable needs it (pip's build environment has it)
    import tempfile
    import zipfile
    with tempfile.TemporaryDirectory() as d:
        project, out = Path(d) / "p", Path(d) / "out"
        shutil.copytree(REPO, project, ignore=shutil.ignore_patterns("__pycache__", ".git", "build", "*.egg-info", "tests"))
        out.mkdir()
        r = subprocess.run([sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_editable({str(out)!r}))"],
                           cwd=project, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        names = zipfile.ZipFile(out / r.stdout.split()[-1]).namelist()
        pth = [n for n in names if n.endswith(".pth")]
        assert len(pth) == 1 and not [n for n in names if n.endswith("_finder.py")], names
        text = zipfile.ZipFile(out / r.stdout.split()[-1]).read(pth[0]).decode()
        assert text.strip() == str(project), text


def test_the_package_imports_its_parts_on_first_use():
    """`import runner` (what `from runner.cli import main` runs first) loads none of runner's
    modules, so the CLI's start-up gc threshold (set when runner.cli is imported) covers them;
    the package's names still resolve."""
    probe = ("import sys; before = set(sys.modules); import runner; "
             "print(sorted(m for m in set(sys.modules) - before if m.startswith('runner.') or m == 'dataclasses')); "
             "from runner import Trap, DecodeError, WasmError; import runner.errors as e; "
             "print(Trap is e.Trap and DecodeError is e.DecodeError and issubclass(Trap, WasmError))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["[]", "True"], r.stdout
