"""Every template has its checker, and the checker is independent of what it checks."""

from __future__ import annotations

import ast
from pathlib import Path

from analysis.diagnosis.explain import TEMPLATES
from tests.sentences.registry import CHECKERS

HERE = Path(__file__).resolve().parent
#: the oracle: what reads the raw files and verifies the words (matrix.py and the tests drive it, and may import more)
ORACLE = ("raw.py", "conn.py", "measure.py", "checking.py", "registry.py", *sorted(p.name for p in HERE.glob("checks_*.py")))


def test_every_template_has_a_checker_and_every_checker_a_template():
    assert sorted(set(TEMPLATES) - set(CHECKERS)) == [], "a new sentence needs its checker in tests/sentences/checks_*.py"
    assert sorted(set(CHECKERS) - set(TEMPLATES)) == [], "a checker of a template that no longer exists"


def test_the_oracle_never_imports_the_analyzer_or_the_harness():
    imported = {}
    for name in ORACLE:
        tree = ast.parse((HERE / name).read_text())
        modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported[name] = sorted(m for m in modules if m.split(".")[0] in ("analysis", "capture", "abortscope"))
    assert {name: found for name, found in imported.items() if found} == {}
