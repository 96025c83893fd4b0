"""The vectorized connection table equals the per-connection reference, on real bundles, real captures and
synthetic ones (hypothesis), and diagnose() gives the table's verdicts."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analysis
from analysis.diagnosis import connection_table
from analysis.errors import AbortscopeError
from analysis.pcap.table import PACKET_COLUMNS
from analysis.schema import conform
from analysis.tcp import build_flows
from analysis.timeline import merge
from tests.analysis.diagnosis.compare import differences
from tests.conftest import SAMPLES, corpus_files

BUNDLES = sorted(p.parent for p in SAMPLES.glob("*/meta.json"))


def _check(timeline) -> None:
    table = timeline.connections
    assert differences(table, timeline.events) == []
    assert [d.verdict.value for d in timeline.diagnose()] == table["verdict"].astype(str).tolist()


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_sample_bundles_match_the_reference(bundle):
    _check(analysis.load(bundle))
    _check(analysis.load(bundle / "capture.pcap"))


def test_every_corpus_capture_matches_the_reference(corpus):
    files = corpus_files()
    assert len(files) > 30
    checked = 0
    for path in files:
        try:
            timeline = analysis.load(path)
        except AbortscopeError:  # the malformed files: refused in one line (tested elsewhere)
            continue
        _check(timeline)
        checked += len(timeline.flows)
    assert checked > 60


# -- synthetic timelines ----------------------------------------------------------------------------------------

FLAGS = {"S": 0x02, "SA": 0x12, "A": 0x10, "PA": 0x18, "FA": 0x11, "R": 0x04, "RA": 0x14, "FPA": 0x19}
PORTS = (40001, 40002, 40003)
SIDES = st.sampled_from(["client", "server", None])
ERRNOS = st.sampled_from([None, "EPIPE", "ECONNRESET", "EAGAIN"])
#: around a packet of the connection: both sides of the 20 ms the kernel evidence may be away from the RST
OFFSETS = st.sampled_from([-30_000_000, -20_000_001, -20_000_000, -5_000, 0, 1, 7_000, 20_000_000, 20_000_001])

packets_strategy = st.lists(st.tuples(st.sampled_from(range(len(PORTS))), st.booleans(), st.sampled_from(sorted(FLAGS)),
                                      st.sampled_from([0, 0, 1, 100, 4096])), min_size=1, max_size=30)
kernel_row = st.one_of(
    st.tuples(st.just("kernel"), st.just("state"), SIDES, st.none(),
              st.sampled_from(["CLOSE_WAIT->CLOSE", "ESTABLISHED->CLOSE", "FIN_WAIT1->FIN_WAIT2"]), st.none()),
    st.tuples(st.just("kernel"), st.just("rst_sent"), SIDES, st.none(),
              st.sampled_from(["tcp_send_reset reason=NO_SOCKET state=CLOSE", "tcp_send_reset reason=TCP_TIMEWAIT_SOCKET",
                               "tcp_send_reset"]), st.none()),
    st.tuples(st.just("kernel"), st.sampled_from(["sk_error", "rst_received"]), SIDES, ERRNOS,
              st.sampled_from(["inet_sk_error_report error=32", None]), st.none()))
syscall_row = st.tuples(st.just("syscall"), st.sampled_from(["write", "write_error", "read", "read_error", "read_eof"]),
                        SIDES, ERRNOS, st.sampled_from(["write(4<TCP:[..]>, ..., 4096) = -1 EPIPE", "read(4, ...)", None]),
                        st.sampled_from([None, 10, 4096]))
app_row = st.tuples(st.just("app"), st.sampled_from(["write", "write_error", "abort", "log", "request"]), SIDES, ERRNOS,
                    st.sampled_from(["go: write: broken pipe", "context canceled", None]), st.sampled_from([None, 8061]))
side_strategy = st.lists(st.tuples(st.sampled_from(range(len(PORTS))), st.one_of(kernel_row, syscall_row, app_row),
                                   st.integers(0, 6), OFFSETS), max_size=25)


def _packet_table(spec) -> pd.DataFrame:
    rows, seq = [], {}
    for i, (conn, from_client, flags, length) in enumerate(spec):
        key = (conn, from_client)
        seq.setdefault(key, 1_000 * (conn + 1) + (0 if from_client else 500_000))
        rows.append({"frame": i + 1, "ts_ns": 1_795_000_000_000_000_000 + i * 3_000_000, "iface": 0, "vlan": "",
                     "ip_version": 4, "src": "10.0.0.1" if from_client else "10.0.0.2",
                     "dst": "10.0.0.2" if from_client else "10.0.0.1",
                     "sport": PORTS[conn] if from_client else 80, "dport": 80 if from_client else PORTS[conn],
                     "flags": FLAGS[flags], "seq_raw": seq[key], "ack_raw": 7, "len": length, "win": 0 if i % 7 == 3 else 512,
                     "truncated": False})
        seq[key] += length + (1 if FLAGS[flags] & 0x03 else 0)
    return pd.DataFrame(rows).astype({k: v[0] for k, v in PACKET_COLUMNS.items()})


def _side_rows(spec, pk: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    rows = []
    flow_of_port = {int(c.rsplit(":", 1)[1]): f for c, f in zip(flows["client"], flows["flow"])}
    for conn, (source, kind, actor, errno, detail, length), anchor, offset in spec:
        if PORTS[conn] not in flow_of_port:
            continue
        flow = flow_of_port[PORTS[conn]]
        conn_ts = pk.loc[pk["conn"] == int(flows.loc[flows["flow"] == flow, "conn"].iloc[0]), "ts_ns"].to_numpy()
        rows.append({"ts_ns": int(conn_ts[min(anchor, len(conn_ts) - 1)]) + offset, "flow": flow, "source": source,
                     "actor": actor, "kind": kind, "errno": errno, "detail": detail, "len": length})
    frame = pd.DataFrame(rows, columns=["ts_ns", "flow", "source", "actor", "kind", "errno", "detail", "len"])
    return conform(frame.assign(t_rel=np.nan).astype({"len": "Int64"}))


def _differences(packet_spec, side_spec) -> list[str]:
    pk, flows = build_flows(_packet_table(packet_spec))
    side = merge([_side_rows(side_spec, pk, flows)], flows)
    table = connection_table(flows, side)
    return differences(table, analysis.Timeline(flows=flows, packets=pk, other_events=side).events)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets_strategy, side_strategy)
def test_synthetic_timelines_match_the_reference(packet_spec, side_spec):
    assert _differences(packet_spec, side_spec) == []


@pytest.mark.parametrize("seed", range(0, 400, 50))
def test_random_scenarios_match_the_reference(seed):
    """Uniform draws from the same choices (hypothesis favours the simple ones): 50 timelines a case, with
    late data, answered RSTs, swallowed and seen errors among them."""
    rng = random.Random(seed)
    for case in range(seed, seed + 50):
        assert _differences(*_random_spec(rng)) == [], f"case {case}"


def _random_spec(rng: random.Random):
    draw = lambda strategy: _uniform(rng, strategy)  # noqa: E731
    packets = [(rng.randrange(len(PORTS)), rng.random() < 0.5, rng.choice(sorted(FLAGS)), rng.choice([0, 0, 1, 100, 4096]))
               for _ in range(rng.randint(1, 40))]
    side = [(rng.randrange(len(PORTS)), draw(rng.choice([kernel_row, syscall_row, app_row])), rng.randint(0, 6),
             rng.choice(OFFSETS.elements)) for _ in range(rng.randint(0, 40))]
    return packets, side


def _uniform(rng: random.Random, strategy):
    """One uniform draw from the tuples/sampled_from/just/none strategies above (not hypothesis' search)."""
    strategy = getattr(strategy, "wrapped_strategy", strategy)
    if hasattr(strategy, "original_strategies"):  # one_of
        return _uniform(rng, rng.choice(strategy.original_strategies))
    if hasattr(strategy, "element_strategies"):  # tuples
        return tuple(_uniform(rng, part) for part in strategy.element_strategies)
    if hasattr(strategy, "elements"):  # sampled_from
        return rng.choice(strategy.elements)
    return strategy.example() if not hasattr(strategy, "value") else strategy.value
