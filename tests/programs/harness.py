"""Shared by the recorder (run_with_wasmtime.py) and tests/test_programs.py: building
the programs, preparing a case's host directory, and checking a run against a case.

A case (see expected.py) is a dict:
    args, env            argv[1:] and environment (argv[0] is the .wasm path)
    setup                host entries to create first, in a fresh directory:
                         ("dir", path) | ("file", path, text) | ("symlink", path, target)
                         where "{tmp}" in a target is that directory
    dirs                 [(host path relative to it, guest path)]  (--dir HOST::GUEST)
    stdin                text fed to stdin (or stdin_repeat: [text, count])
    stdout               exact expected stdout, or for long output
    stdout_size, stdout_sha256, stdout_head
    stderr               what the guest itself writes to stderr (a runtime may add its
                         own message after it, e.g. on a trap)
    exit_code            0..125 as exited; 1 for an exit status >= 126; 134 for a trap
    host_after           {path: text or None}: files that must (not) exist afterwards
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROGRAMS_DIR = Path(__file__).resolve().parent
BUILD_DIR = PROGRAMS_DIR / "build"
BUILD_SCRIPT = PROGRAMS_DIR.parents[1] / "scripts" / "build-test-programs.sh"
LONG_OUTPUT = 2000          # longer stdout is recorded as size + digest + head


@dataclass
class Outcome:
    stdout: bytes
    stderr: bytes           # what the guest wrote (plus, from a CLI, the runtime's message)
    exit_code: int
    error: str = ""         # the runtime's own message (trap, invalid exit), if kept apart


def build() -> None:
    """Build every program that is out of date (raises CalledProcessError on failure)."""
    subprocess.run(["sh", str(BUILD_SCRIPT)], check=True)


def build_or_skip_reason() -> str | None:
    """Build the programs; None when they are ready, else why they cannot be run."""
    result = subprocess.run(["sh", str(BUILD_SCRIPT)], capture_output=True, text=True)
    if result.returncode == 0:
        return None
    if all(wasm_path(p.stem).exists() for p in PROGRAMS_DIR.glob("*.rs")):
        return None                      # no toolchain here, but earlier builds are usable
    return f"cannot build the test programs: {result.stderr.strip()[-300:]}"


def case_ids(programs: dict) -> list[tuple[str, int, dict]]:
    """(program, index, case) for every case, for pytest parametrization."""
    return [(name, i, case) for name, cases in programs.items() for i, case in enumerate(cases)]


def wasm_path(program: str) -> Path:
    return BUILD_DIR / f"{program}.wasm"


def prepare(case: dict, tmp: Path) -> list[tuple[str, str]]:
    """Create the case's host files under ``tmp``; return its (host, guest) dirs."""
    for entry in case.get("setup", []):
        kind, path = entry[0], tmp / entry[1]
        if kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
        elif kind == "file":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(entry[2])
        elif kind == "symlink":
            os.symlink(entry[2].format(tmp=tmp), path)
        else:
            raise ValueError(f"unknown setup entry {entry!r}")
    return [(str(tmp / host), guest) for host, guest in case.get("dirs", [])]


def stdin_bytes(case: dict) -> bytes:
    if "stdin_repeat" in case:
        text, count = case["stdin_repeat"]
        return text.encode() * count
    return case.get("stdin", "").encode()


def describe_stdout(stdout: bytes) -> dict:
    text = stdout.decode("utf-8", "replace")
    if len(text) <= LONG_OUTPUT:
        return {"stdout": text}
    return {"stdout_size": len(stdout), "stdout_sha256": hashlib.sha256(stdout).hexdigest(),
            "stdout_head": text[:200]}


def output_mismatches(case: dict, outcome: Outcome) -> list[str]:
    """How ``outcome`` differs from the case's recorded outcome (empty: it matches)."""
    problems = []
    if outcome.exit_code != case["exit_code"]:
        problems.append(f"exit code {outcome.exit_code}, expected {case['exit_code']}")
    got = describe_stdout(outcome.stdout)
    want = {k: case[k] for k in ("stdout", "stdout_size", "stdout_sha256", "stdout_head") if k in case}
    if got != want:
        problems.append(f"stdout differs:\n  got  {got!r:.600}\n  want {want!r:.600}")
    stderr = outcome.stderr.decode("utf-8", "replace")
    if not stderr.startswith(case["stderr"]):
        problems.append(f"stderr {stderr!r:.600} does not start with {case['stderr']!r}")
    return problems


def host_mismatches(case: dict, tmp: Path) -> list[str]:
    """Host files that are not as ``host_after`` says, after a run in ``tmp``."""
    problems = []
    for path, text in case.get("host_after", {}).items():
        p = tmp / path
        actual = p.read_text() if p.is_file() and not p.is_symlink() else None
        if actual != text or (text is None and os.path.lexists(p)):
            problems.append(f"host file {path}: {actual!r}, expected {text!r}")
    return problems
