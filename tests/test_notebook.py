"""The walk-through notebook runs clean on the committed samples, is committed without outputs, and holds no logic.

It is executed in memory with nbclient (the file is not rewritten), on the `python3` kernel of this
environment: jupyter_client starts it with this interpreter (sys.executable), so the .venv's
packages are the ones the notebook imports. Any cell error fails the test with the cell's traceback.
"""

from __future__ import annotations

import ast

import nbformat
import pytest

from tests.conftest import REPO, SAMPLES

NOTEBOOK = REPO / "notebooks" / "broken_pipe_walkthrough.ipynb"
#: the bundles the notebook needs (the others it shows when present)
NEEDED = ("go-curl-8061", "go-curl-8060")
#: functions the notebook may define: display glue only, no analysis
DISPLAY_HELPERS = {"show_side_by_side"}


def read_notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


@pytest.mark.slow
def test_notebook_runs_without_error():
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    missing = [n for n in NEEDED if not (SAMPLES / n / "meta.json").is_file()]
    assert not missing, f"sample bundles {missing} missing: run `make samples`"
    notebook = read_notebook()
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"the notebook failed:\n{exc}")
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    shown = "".join(str(o) for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "WRITE_AFTER_PEER_FIN_RST_EPIPE" in shown and "ERROR_SWALLOWED_BY_APP" in shown


def test_notebook_is_committed_with_outputs_cleared():
    dirty = [i for i, c in enumerate(read_notebook().cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert dirty == [], f"cells {dirty} carry outputs: clear them (jupyter nbconvert --clear-output --inplace)"


def test_notebook_imports_the_library_and_defines_no_logic():
    source = "\n".join(c.source for c in read_notebook().cells if c.cell_type == "code")
    tree = ast.parse(source)
    defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    assert defined <= DISPLAY_HELPERS, f"the notebook defines {sorted(defined - DISPLAY_HELPERS)}: move it to analysis/"
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "analysis" in imported


def test_notebook_links_the_go_source_lines_it_explains():
    text = "\n".join(c.source for c in read_notebook().cells if c.cell_type == "markdown")
    base = "https://github.com/golang/go/blob/go1.19.8/src/net/http/server.go#L"
    for line in (338, 1061, 1913):
        assert f"{base}{line}" in text
