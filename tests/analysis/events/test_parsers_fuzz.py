"""Hostile text never crashes a parser: it gives rows that fit the timeline schema, nothing, or EventParseError."""

import re

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.events.context import ParseContext
from analysis.errors import EventParseError
from analysis.events import app_jsonl, applog, jsonl, kernel, strace
from analysis.schema import Actor, EventKind, Source
from tests.analysis.helpers import SEED, flows_table, validate_source
from tests.analysis.lines import GO_LOG, KERNEL_SEED, STRACE_SEED, STRACE_V6

SEEDS = (STRACE_SEED + STRACE_V6 + KERNEL_SEED + GO_LOG).splitlines()
KINDS = {k.value for k in EventKind}
ERRNO = re.compile(r"^E[A-Z0-9]+$")


@st.composite
def mangled(draw):
    lines = draw(st.lists(st.sampled_from(SEEDS), min_size=0, max_size=8))
    out = []
    for line in lines:
        if line and draw(st.booleans()):
            cut = draw(st.integers(0, len(line)))
            line = line[:cut] + draw(st.text(max_size=12)) + line[cut + draw(st.integers(0, 5)):]
        out.append(line)
    return "\n".join(out)


#: parser, and the source its rows must carry
PARSERS = (
    (lambda text, flows: strace.parse(text, ParseContext(flows=flows)), Source.SYSCALL),
    (lambda text, flows: kernel.parse(text, ParseContext(trace_to_realtime_ns=0, flows=flows)), Source.KERNEL),
    (lambda text, flows: applog.parse(text, ParseContext(flows=flows, tz="UTC")), Source.APP),
    (lambda text, flows: app_jsonl.parse(text, ParseContext(flows=flows)), Source.APP),
    (lambda text, flows: jsonl.parse(text, ParseContext(flows=flows)), Source.APP),
)


def assert_rows_fit_the_timeline(rows: pd.DataFrame, source: Source, flows: pd.DataFrame, text: str) -> None:
    """What the merge relies on, row by row: schema columns and dtypes, the parser's source, a known
    kind, a flow that is one of the capture's connections (or none), a symbolic errno, a line per row at most."""
    validate_source(rows)
    assert set(rows["source"].astype(str)) <= {source.value}
    assert set(rows["kind"].astype(str)) <= KINDS
    assert set(rows["actor"].dropna().astype(str)) <= {a.value for a in Actor}
    assert set(rows["flow"].astype(str)) <= {"", *flows["flow"]}
    assert all(ERRNO.match(e) for e in rows["errno"].dropna().astype(str)), list(rows["errno"].dropna())
    assert (rows["len"].dropna() >= -(1 << 31)).all()
    assert len(rows) <= max(1, len(text.splitlines()))


@settings(max_examples=60, deadline=None)
@given(text=mangled())
def test_parsers_give_schema_rows_or_our_error_on_mangled_lines(text):
    flows = flows_table(SEED)
    for parse, source in PARSERS:
        try:
            rows = parse(text, flows)
        except EventParseError:
            continue
        assert_rows_fit_the_timeline(rows, source, flows, text)


def test_the_unmangled_seed_lines_give_rows_that_fit():
    """The check above is not vacuous: the seed lines themselves give rows of every source."""
    flows = flows_table(SEED)
    text = "\n".join(SEEDS)
    counts = {}
    for parse, source in PARSERS[:3]:
        rows = parse(text, flows)
        assert_rows_fit_the_timeline(rows, source, flows, text)
        counts[source] = len(rows)
    assert all(counts.values()), counts
