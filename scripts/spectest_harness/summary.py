"""The end-of-run summary: failures by feature, by root cause, and what was skipped and why.

A failed ``module`` fails every later command that needs it; those are counted under the
module's own error (the root cause), so "try_table is not supported yet" shows up as one cause
with the number of commands it costs.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict

_NOISE = ((re.compile(r" in function \d+"), ""), (re.compile(r" at byte offset 0x[0-9a-f]+"), ""),
          (re.compile(r"0x[0-9a-f]+"), "0x…"), (re.compile(r"(?<![\w.])-?\d+(?![\w.])"), "N"))


def normalise(cause: str, width: int = 110) -> str:
    """A cause without its offsets and numbers, so equal causes group together."""
    for pattern, repl in _NOISE:
        cause = pattern.sub(repl, cause)
    return cause if len(cause) <= width else cause[:width - 1] + "…"


def skip_category(why: str) -> str:
    if why.startswith("needs GC"):
        return "needs GC (inside a non-GC script)"
    if why.startswith("text module"):
        return "text format (.wat)"
    return why


def lines(results, suite, top: int = 20) -> list[str]:
    out: list[str] = []
    by_feature: dict[str, list] = defaultdict(list)
    for r in results:
        by_feature[suite.feature(r.path)].append(r)
    failing = {f: [r for r in rs if r.failed] for f, rs in by_feature.items()}
    if any(failing.values()):
        out.append("failures by feature:")
        for feature, rs in sorted(by_feature.items(), key=lambda kv: -sum(r.failed for r in kv[1])):
            bad = sorted(failing[feature], key=lambda r: -r.failed)
            if not bad:
                continue
            passed, failed = sum(r.passed for r in rs), sum(r.failed for r in rs)
            out.append(f"  {feature}: {failed} failed, {passed} passed; "
                       + ", ".join(f"{r.name} ({r.failed})" for r in bad))
        causes: Counter = Counter()
        where: dict[str, Counter] = defaultdict(Counter)
        for r in results:
            for f in r.failures:
                c = normalise(f.cause)
                causes[c] += 1
                where[c][r.name] += 1
        out.append(f"top failure causes (of {len(causes)}; a failed module's dependents count under it):")
        for cause, n in causes.most_common(top):
            scripts = where[cause].most_common(4)
            more = len(where[cause]) - len(scripts)
            out.append(f"  {n:6d}  {cause}  [{', '.join(s for s, _ in scripts)}{f' +{more}' if more > 0 else ''}]")
    skipped: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        if r.skipped_whole:
            skipped[r.skipped_whole][r.name] += r.skipped
        for _, _, why in r.skips:
            skipped[skip_category(why)][r.name] += 1
    if skipped:
        out.append("skipped:")
        for why, per_script in skipped.items():
            total = sum(per_script.values())
            shown = ", ".join(f"{s} ({n})" for s, n in sorted(per_script.items()))
            if why.startswith("text format"):
                shown = f"{len(per_script)} scripts"
            out.append(f"  {total} {why}: {shown}")
    return out
