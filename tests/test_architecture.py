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


# -- the sans-IO line: the pure core takes values and gives values ---------------------------------------------

#: The pure core (bytes, lines or DataFrames in; DataFrames or frozen values out). The reading shell around it
#: (analysis/pcap/, api.py, side_files.py, bundle.py, export.py, plots' saving) may do I/O.
PURE_CORE = ("analysis/schema", "analysis/clock.py", "analysis/errnos.py", "analysis/rules.py", "analysis/tcp",
             "analysis/events", "analysis/timeline.py", "analysis/diagnosis")
#: modules whose import alone means threads, foreign calls, mapped files or other processes
IMPURE_MODULES = {"threading", "concurrent", "multiprocessing", "ctypes", "mmap", "subprocess", "socket", "asyncio",
                  "signal", "shutil", "tempfile"}
#: attribute chains that read the environment, the clock or the file system
IMPURE_CALLS = {("os", "environ"), ("os", "getenv"), ("os", "getcwd"), ("datetime", "now"), ("datetime", "today"),
                ("time", "time"), ("time", "monotonic"), ("time", "perf_counter"), ("time", "sleep"),
                ("date", "today")}
IMPURE_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "open", "unlink", "mkdir", "iterdir",
                  "glob", "rglob", "exists", "is_file", "is_dir", "stat"}


def impurities(source: str) -> list[str]:
    """What in this module's text breaks the sans-IO rule, in words (line numbers included), in source order."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = (node.lineno, node.col_offset) if hasattr(node, "lineno") else (0, 0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [(where, f"imports {n}") for n in names if n.split(".")[0] in IMPURE_MODULES]
        elif isinstance(node, ast.Attribute):
            owner = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", None)
            if (owner, node.attr) in IMPURE_CALLS:
                found.append((where, f"{owner}.{node.attr}"))
            elif node.attr in IMPURE_METHODS:
                found.append((where, f".{node.attr}() (file access)"))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open":
            found.append((where, "open()"))
    return [f"line {line}: {what}" for (line, _), what in sorted(found)]


def _core_modules() -> list[Path]:
    return sorted(p for entry in PURE_CORE for p in ((REPO / entry).rglob("*.py") if (REPO / entry).is_dir()
                                                      else [REPO / entry]))


def test_the_pure_core_does_no_io_starts_no_thread_and_reads_no_clock():
    offenders = {p.relative_to(REPO).as_posix(): impurities(p.read_text()) for p in _core_modules()}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) > 30  # the whole core was looked at


def test_the_check_catches_a_thread_a_foreign_call_a_clock_read_and_a_file_read():
    module = (
        "import threading\n"
        "from ctypes import CDLL\n"
        "from datetime import datetime\n"
        "import os\n"
        "def f(path):\n"
        "    stamp = datetime.now()\n"
        "    zone = os.environ.get('TZ')\n"
        "    return path.read_text(), open(path)\n"
    )
    assert impurities(module) == [
        "line 1: imports threading", "line 2: imports ctypes", "line 6: datetime.now", "line 7: os.environ",
        "line 8: .read_text() (file access)", "line 8: open()"]
    assert impurities("import numpy as np\ndef g(x):\n    return np.sort(x)\n") == []


def test_importing_the_packages_changes_nothing():
    """No environment variable set, no file written, no thread started just by importing."""
    import subprocess
    import sys

    code = ("import os, threading; before = dict(os.environ); n = threading.active_count()\n"
            "import abortscope, abortscope.cli, analysis, analysis.api, analysis.diagnosis, analysis.timeline, capture\n"
            "assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())\n"
            "assert threading.active_count() == n\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr


# -- small modules with one job: no module over ~400 lines, no function over ~60 -----------------------------------
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def oversized(text: str, name: str) -> list[str]:
    """What in one module's source is too long: the module, and each function (its signature included)."""
    found = [f"{name}: {len(text.splitlines())} lines"] if len(text.splitlines()) > MAX_MODULE_LINES else []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    return found


def test_no_module_over_400_lines_and_no_function_over_60_in_analysis_and_the_cli():
    found = [problem for package in ("analysis", "abortscope") for path in sorted((REPO / package).rglob("*.py"))
             for problem in oversized(path.read_text(), path.relative_to(REPO).as_posix())]
    assert found == []


def test_the_size_check_sees_a_long_function():
    long_one = "def f():\n" + "    x = 1\n" * 61
    assert oversized(long_one, "m.py") == ["m.py:1 f: 62 lines"]
    assert oversized("def g():\n    return 1\n", "m.py") == []
