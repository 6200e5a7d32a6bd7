"""The expected-failures file: per script, how many of its commands fail today.

While the 3.0 features land, the suite cannot pass; the test compares each script's failure
count with this file instead, so it catches a regression (more failures) *and* an unexpected
pass (fewer: regenerate the file with ``--write-expected``, and the progress is recorded).
Format: ``#`` comment lines, then ``<script> <failed>`` per script with failures.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mismatch:
    script: str
    failed: int      # what the run counted
    expected: int    # what the file says

    def describe(self) -> str:
        if self.failed > self.expected:
            return f"{self.script}: {self.failed} failed, {self.expected} expected (a regression)"
        return (f"{self.script}: {self.failed} failed, {self.expected} expected (fewer than expected: "
                f"regenerate the expected-failures file with --write-expected)")


def read(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, count = line.rpartition(" ")
        if not name or not count.isdigit():
            raise ValueError(f"{path}:{n}: expected '<script> <failed>', got {raw!r}")
        out[name.strip()] = int(count)
    return out


def write(path: Path, results, header: list[str], partial: bool = False) -> None:
    """Record the failure counts of ``results``.  ``partial`` (a run of some scripts): the other
    scripts' lines and the header of an existing file are kept, only these scripts' lines change."""
    old = path.read_text().splitlines() if partial and path.is_file() else []
    counts = read(path) if old else {}
    for r in results:
        counts[r.name] = r.failed
    kept = [line for line in old if line.startswith("#")]
    lines = kept or [f"# {h}" if h else "#" for h in header]
    lines += [f"{name} {n}" for name, n in sorted(counts.items()) if n]
    path.write_text("\n".join(lines) + "\n")


def compare(results, expected: dict[str, int]) -> list[Mismatch]:
    """The scripts whose failure count differs from the file (absent from it: 0 expected)."""
    return [Mismatch(r.name, r.failed, expected.get(r.name, 0))
            for r in results if r.failed != expected.get(r.name, 0)]
