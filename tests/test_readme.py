"""The README cannot rot: every Python block runs alone, in a fresh interpreter, and prints what it says.

Convention (stated in the README): each ``print(...)`` of a block ends with a
comment ``# -> EXPECTED`` (or ``# what it is -> EXPECTED``) and prints one line. EXPECTED is the printed line's
tokens: a number matches within 2% relative or 1e-3 absolute (whichever is
larger); ``<X`` means below X; ``~`` matches anything (a value that depends on
the machine, such as a time); any other token must be equal.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
REL, ABS = 0.02, 1e-3


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced ```python block."""
    blocks, lines, start, buf = [], text.splitlines(), None, []
    for i, line in enumerate(lines, 1):
        if start is None and line.strip() == "```python":
            start, buf = i, []
        elif start is not None and line.strip() == "```":
            blocks.append((start, "\n".join(buf) + "\n"))
            start = None
        elif start is not None:
            buf.append(line)
    return blocks


def expectations(code: str) -> list[str]:
    """The ``# -> ...`` comment of each print line, in order."""
    out = []
    for line in code.splitlines():
        if re.match(r"\s*print\(", line):
            m = re.search(r"#[^#]*->\s*(.*)$", line)
            assert m, f"a README print line needs a '# ... -> expected' comment: {line.strip()}"
            out.append(m.group(1).strip())
    return out


def _number(tok: str) -> float | None:
    try:
        return float(tok.rstrip("%,").lstrip("(["))
    except ValueError:
        return None


def matches(printed: str, expected: str) -> bool:
    got = printed.replace(",", " ").replace("(", " ").replace(")", " ").replace("[", " ").replace("]", " ").split()
    want = expected.replace(",", " ").replace("(", " ").replace(")", " ").replace("[", " ").replace("]", " ").split()
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if w == "~":
            continue
        if w.startswith("<"):
            v, bound = _number(g), _number(w[1:])
            if v is None or bound is None or not v < bound:
                return False
            continue
        gv, wv = _number(g), _number(w)
        if gv is not None and wv is not None:
            if not (math.isfinite(gv) and abs(gv - wv) <= max(ABS, REL * abs(wv))):
                return False
        elif g != w:
            return False
    return True


def test_matches_reads_the_convention():
    assert matches("0.0163 0.0", "0.016 0.0") and not matches("0.03 0.0", "0.016 0.0")
    assert matches("True 12 3e-17", "True 12 <1e-10") and not matches("False 12 3e-17", "True 12 <1e-10")
    assert matches("(0.35, 0.88)", "(0.35, 0.88)") and matches("12.5 s", "~ s")
    assert not matches("1 2", "1 2 3")


BLOCKS = python_blocks(README.read_text())


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("line, code", BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_readme_block_runs_alone_and_prints_what_it_says(tmp_path, line, code):
    want = expectations(code)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"README.md:{line} failed alone:\n{r.stderr[-3000:]}"
    printed = [l for l in r.stdout.splitlines() if l.strip()]
    assert len(printed) == len(want), f"README.md:{line}: printed {printed}, the README says {want}"
    for got, expected in zip(printed, want):
        assert matches(got, expected), f"README.md:{line}: printed {got!r}, the README says {expected!r}"
