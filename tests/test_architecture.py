"""The dependency rules of the package tree, checked on the source text."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The only analysis module allowed to start a process: it drives tshark through pyshark.
PROCESS_ALLOWED = {"analysis/pcap/pyshark_engine.py"}
FORBIDDEN_IN_ANALYSIS = {"capture", "abortscope", "subprocess", "socket"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_analysis_is_sans_io_and_never_imports_capture():
    offenders = {}
    for path in sorted((REPO / "analysis").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        bad = _imports(path) & FORBIDDEN_IN_ANALYSIS
        if rel in PROCESS_ALLOWED:
            bad -= {"subprocess"}
        if bad:
            offenders[rel] = sorted(bad)
    assert offenders == {}


def test_capture_never_imports_the_cli():
    offenders = [p.relative_to(REPO).as_posix() for p in (REPO / "capture").rglob("*.py") if "abortscope" in _imports(p)]
    assert offenders == []


def test_readme_documents_both_tables_the_verdict_rules_and_the_reset_rule_as_declared():
    from analysis.diagnosis.verdicts import markdown_table as verdict_table
    from analysis.schema import CONNECTION_COLUMNS, TIMELINE_COLUMNS
    from analysis.schema.columns import markdown_table
    from analysis.tcp.resets import markdown_table as reset_table

    readme = (REPO / "README.md").read_text()
    assert markdown_table(TIMELINE_COLUMNS) in readme
    assert markdown_table(CONNECTION_COLUMNS) in readme
    assert verdict_table() in readme
    assert reset_table() in readme
