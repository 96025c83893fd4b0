"""Hostile text never crashes a parser: it gives rows, nothing, or EventParseError."""

from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.events.context import ParseContext
from analysis.errors import EventParseError
from analysis.events import app_jsonl, applog, jsonl, kernel, strace
from tests.analysis.helpers import SEED, flows_table
from tests.analysis.lines import GO_LOG, KERNEL_SEED, STRACE_SEED, STRACE_V6

SEEDS = (STRACE_SEED + STRACE_V6 + KERNEL_SEED + GO_LOG).splitlines()


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


PARSERS = (
    lambda text, flows: strace.parse(text, ParseContext(flows=flows)),
    lambda text, flows: kernel.parse(text, ParseContext(trace_to_realtime_ns=0, flows=flows)),
    lambda text, flows: applog.parse(text, ParseContext(flows=flows, tz="UTC")),
    lambda text, flows: app_jsonl.parse(text, ParseContext(flows=flows)),
    lambda text, flows: jsonl.parse(text, ParseContext(flows=flows)),
)


@settings(max_examples=60, deadline=None)
@given(text=mangled())
def test_parsers_survive_mangled_lines(text):
    flows = flows_table(SEED)
    for parse in PARSERS:
        try:
            parse(text, flows)
        except EventParseError:
            pass
