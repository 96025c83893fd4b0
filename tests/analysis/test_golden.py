"""Golden tests: the analyzer's timeline and diagnosis of every sample bundle, kept under tests/golden/<sample>/.

For each bundle in sample_pcaps/ (capture.samples.SAMPLES) two files are compared:

    timeline.csv   the timeline export (analysis.schema columns) without ``ts_ns``: t_rel (ns precision),
                   flow, source, actor, kind, frame, flags, seq/ack, len, errno, detail
    diagnosis.txt  per connection: verdict, evidence frames, then Timeline.report_text()

Timestamps and ports differ from run to run, so absolute times are left out and ports are
written as <server-port> / <client-port-N>: after `make samples` the goldens change only
where the story did. The bundle is committed, so the analysis of it is deterministic and the
comparison is exact. A mismatch says first what matters ("verdict of <flow>: expected X vs
actual Y", "row 12 kind: expected write_error vs actual write"), then the first differing lines.

After a deliberate change (analyzer or samples), regenerate and review the diff:

    ABORTSCOPE_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/analysis/test_golden.py

Under ``CI=true`` the flag is ignored (the goldens are compared, never rewritten).
"""

from __future__ import annotations

import difflib
import io
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import load
from analysis.export import to_csv_text
from analysis.schema import COLUMN_NAMES
from capture.samples import SAMPLES
from tests.conftest import IN_CI, REPO, SAMPLES as SAMPLES_DIR, unavailable

GOLDEN = REPO / "tests" / "golden"
REGEN_ASKED = os.environ.get("ABORTSCOPE_REGEN_GOLDEN", "") not in ("", "0")
#: CI always compares: a regenerate flag left in CI's environment would turn every golden test green
REGEN = REGEN_ASKED and not IN_CI
TIMELINE, DIAGNOSIS = "timeline.csv", "diagnosis.txt"
#: the exported columns: absolute time differs between runs, t_rel carries the timing
GOLDEN_COLUMNS = [c for c in COLUMN_NAMES if c != "ts_ns"]
MAX_DIFF_LINES = 40


# ---- rendering ------------------------------------------------------------------------------------------------

def port_names(flows: pd.DataFrame) -> dict[int, str]:
    """Each port of the capture's connections -> a stable name (server ports first, clients by first packet)."""
    names: dict[int, str] = {}
    ordered = flows.sort_values("first_ts_ns", kind="stable")["flow"].astype(str)
    servers, clients = [], []
    for flow in ordered:
        client, server = flow.split("#")[0].split(">")
        clients.append(int(client.rsplit(":", 1)[1]))
        servers.append(int(server.rsplit(":", 1)[1]))
    for i, port in enumerate(dict.fromkeys(servers), 1):
        names.setdefault(port, "<server-port>" if i == 1 else f"<server-port-{i}>")
    for i, port in enumerate(dict.fromkeys(clients), 1):
        names.setdefault(port, f"<client-port-{i}>")
    return names


def normalise(text: str, ports: dict[int, str]) -> str:
    if not ports:
        return text
    pattern = re.compile(r"(?<!\d)(%s)(?!\d)" % "|".join(str(p) for p in sorted(ports, reverse=True)))
    return pattern.sub(lambda m: ports[int(m.group(1))], text)


def render(bundle: Path) -> dict[str, str]:
    """What the goldens hold for ``bundle``: {file name: text}."""
    timeline = load(bundle)
    ports = port_names(timeline.flows)
    csv = to_csv_text(timeline.events, GOLDEN_COLUMNS)
    blocks = []
    for d in timeline.diagnose():
        blocks.append("\n".join([
            f"flow: {d.flow}",
            f"verdict: {d.verdict.value}",
            f"frames: {', '.join(str(f) for f in d.frames)}",
            d.text(),
        ]))
    diagnosis = "\n\n".join(blocks) + "\n"
    return {TIMELINE: normalise(csv, ports), DIAGNOSIS: normalise(diagnosis, ports)}


# ---- comparing ------------------------------------------------------------------------------------------------

def verdicts(diagnosis_text: str) -> dict[str, str]:
    found = re.findall(r"^flow: (.*)\nverdict: (.*)$", diagnosis_text, flags=re.M)
    return dict(found)


def read_csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Human-readable mismatches, most important first; [] when the goldens match."""
    problems: list[str] = []
    want_v, got_v = verdicts(expected[DIAGNOSIS]), verdicts(actual[DIAGNOSIS])
    for flow in sorted(set(want_v) | set(got_v)):
        if want_v.get(flow) != got_v.get(flow):
            problems.append(f"verdict of {flow}: expected {want_v.get(flow)} vs actual {got_v.get(flow)}")
    want, got = read_csv(expected[TIMELINE]), read_csv(actual[TIMELINE])
    if len(want) != len(got):
        problems.append(f"timeline rows: expected {len(want)} vs actual {len(got)}")
    for column in ("source", "actor", "kind", "frame", "errno"):
        if column not in want or column not in got:
            problems.append(f"column {column}: missing in {'golden' if column not in want else 'actual'}")
            continue
        for row, (w, g) in enumerate(zip(want[column], got[column]), start=1):
            if w != g:
                problems.append(f"row {row} {column}: expected {w or '(empty)'} vs actual {g or '(empty)'}")
                break
    for name in (TIMELINE, DIAGNOSIS):
        if expected[name] != actual[name]:
            diff = list(difflib.unified_diff(expected[name].splitlines(), actual[name].splitlines(),
                                             f"golden/{name}", f"actual/{name}", lineterm="", n=1))
            shown = diff[:MAX_DIFF_LINES] + ([f"... {len(diff) - MAX_DIFF_LINES} more diff lines"]
                                             if len(diff) > MAX_DIFF_LINES else [])
            problems.append(f"{name} differs:\n" + "\n".join(shown))
    return problems


def read_golden(name: str) -> dict[str, str]:
    folder = GOLDEN / name
    missing = [f for f in (TIMELINE, DIAGNOSIS) if not (folder / f).is_file()]
    if missing:
        pytest.fail(f"no golden {missing} for {name} in {folder}: generate them with "
                    "ABORTSCOPE_REGEN_GOLDEN=1 pytest tests/analysis/test_golden.py")
    return {f: (folder / f).read_text() for f in (TIMELINE, DIAGNOSIS)}


def sample_bundle(name: str) -> Path:
    path = SAMPLES_DIR / name
    if not (path / "meta.json").is_file():
        unavailable(f"sample bundle {path} not generated: run `make samples`")
    return path


# ---- the tests ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SAMPLES))
def test_analysis_of_sample_matches_golden(name):
    actual = render(sample_bundle(name))
    if REGEN:
        folder = GOLDEN / name
        folder.mkdir(parents=True, exist_ok=True)
        for file, text in actual.items():
            (folder / file).write_text(text)
        return
    problems = differences(read_golden(name), actual)
    assert not problems, f"{name}: the analysis differs from tests/golden/{name}/ (deliberate? regenerate with " \
                         f"ABORTSCOPE_REGEN_GOLDEN=1):\n" + "\n".join(problems)


def test_every_golden_belongs_to_a_sample():
    orphans = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir() and p.name not in SAMPLES) if GOLDEN.is_dir() else []
    assert orphans == [], f"tests/golden/ holds goldens of samples that no longer exist: {orphans}"


def test_comparison_fails_when_a_verdict_changes(tmp_path):
    """A copy of the 8061 bundle without strace.txt loses the EPIPE syscall: the verdict must change and be caught."""
    copy = tmp_path / "go-curl-8061"
    shutil.copytree(sample_bundle("go-curl-8061"), copy)
    (copy / "strace.txt").unlink()
    problems = differences(read_golden("go-curl-8061"), render(copy))
    assert any(p.startswith("verdict of ") for p in problems), problems


def test_comparison_fails_when_an_event_kind_changes():
    """One row of the timeline with another kind (a failed write read as a good one) must be caught."""
    golden = read_golden("go-curl-8061")
    frame = read_csv(golden[TIMELINE])
    failed = frame.index[frame["kind"] == "write_error"]
    assert len(failed), "the 8061 golden should hold a write_error"
    frame.loc[failed[0], "kind"] = "write"
    perturbed = dict(golden, **{TIMELINE: frame.to_csv(index=False, lineterminator="\n")})
    problems = differences(golden, perturbed)
    assert f"row {failed[0] + 1} kind: expected write_error vs actual write" in problems, problems


def test_comparison_passes_on_identical_output():
    golden = read_golden("go-curl-8061")
    assert differences(golden, dict(golden)) == []


def test_ports_are_normalised_but_not_other_numbers():
    ports = {38630: "<client-port-1>", 45045: "<server-port>"}
    text = "127.0.0.1:38630>127.0.0.1:45045 wrote 4096 at 1795473729.145045 port=45045 seq 3863012"
    assert normalise(text, ports) == ("127.0.0.1:<client-port-1>>127.0.0.1:<server-port> wrote 4096 at "
                                      "1795473729.145045 port=<server-port> seq 3863012")


def test_the_regenerate_flag_is_ignored_under_ci(tmp_path):
    """CI=true with ABORTSCOPE_REGEN_GOLDEN=1 left in its environment: a wrong golden still fails, and stays as it was.
    Without CI the same flag rewrites it (so the flag itself works)."""
    import subprocess
    import sys

    copy = tmp_path / "repo"
    shutil.copytree(REPO / "tests", copy / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "sample_pcaps").symlink_to(SAMPLES_DIR)
    golden = copy / "tests" / "golden" / "go-curl-8061" / DIAGNOSIS
    wrong = golden.read_text().replace("WRITE_AFTER_PEER_FIN_RST_EPIPE", "NORMAL_CLOSE")
    assert wrong != golden.read_text()
    golden.write_text(wrong)
    node = f"{copy / 'tests' / 'analysis' / 'test_golden.py'}::test_analysis_of_sample_matches_golden[go-curl-8061]"

    def pytest_with(ci: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "CI": ci, "ABORTSCOPE_REGEN_GOLDEN": "1"}
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node],
                              cwd=copy, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip

    in_ci = pytest_with("true")
    assert in_ci.returncode == 1, in_ci.stdout
    assert "verdict of" in in_ci.stdout and "expected NORMAL_CLOSE vs actual WRITE_AFTER_PEER_FIN_RST_EPIPE" in in_ci.stdout
    assert golden.read_text() == wrong
    outside_ci = pytest_with("")
    assert outside_ci.returncode == 0, outside_ci.stdout
    assert golden.read_text() == (GOLDEN / "go-curl-8061" / DIAGNOSIS).read_text()
