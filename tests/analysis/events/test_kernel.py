import pytest

from analysis.events.context import ParseContext
from analysis.errors import EventParseError
from analysis.events import kernel, strace
from tests.analysis.helpers import validate_source as validate
from tests.analysis.helpers import SEED, SEED_FLOW, flows_table
from tests.analysis.lines import KERNEL_SEED, KERNEL_SEED_OFFSET_NS, STRACE_SEED


def parse(**kw):
    return kernel.parse(KERNEL_SEED, ParseContext(trace_to_realtime_ns=KERNEL_SEED_OFFSET_NS, flows=flows_table(SEED), **kw))


def test_tracepoints_map_to_kinds_actors_and_details():
    rows = parse()
    validate(rows)
    tied = rows[rows["flow"] == SEED_FLOW]
    got = list(zip(tied["kind"].astype(str), tied["actor"].astype(str), tied["detail"]))
    assert ("state", "client", "SYN_SENT->ESTABLISHED") in got
    assert ("state", "server", "ESTABLISHED->CLOSE_WAIT") in got
    assert ("state", "server", "CLOSE_WAIT->CLOSE") in got
    # the RST is the client's although the server's task ran the softirq
    assert ("rst_sent", "client", "tcp_send_reset reason=TCP_TIMEWAIT_SOCKET state=TIME_WAIT") in got
    assert ("rst_received", "server", "tcp_receive_reset sock_cookie=3") in got
    assert tied.loc[tied["kind"] == "sk_error", "errno"].tolist() == ["EPIPE"]


def test_sockets_without_a_port_and_non_tcp_sockets_are_not_tied():
    rows = parse()
    assert rows.loc[rows["detail"] == "CLOSE->LISTEN", "flow"].tolist() == [""]
    assert rows.loc[rows["detail"] == "CLOSE->SYN_SENT", "flow"].tolist() == [""]
    assert 72 not in rows["len"].dropna().tolist()  # the netlink send (family 0x10) is not TCP


def test_trace_clock_plus_offset_gives_epoch_ns():
    rows = parse()
    rst = rows[rows["kind"] == "rst_sent"].iloc[0]
    assert rst["ts_ns"] == 2801_230766000 + KERNEL_SEED_OFFSET_NS
    # within 50 µs of the RST the capture recorded (frame 9 at 1795472646.650546164)
    assert abs(rst["ts_ns"] - 1795472646_650546164) < 50_000


def test_send_length_is_tied_through_the_write_of_the_same_thread():
    sys_rows = strace.parse(STRACE_SEED, ParseContext(flows=flows_table(SEED)))
    rows = parse(earlier={"strace": sys_rows})
    sends = rows[rows["kind"] == "send_length"]
    tied = sends[sends["flow"] == SEED_FLOW]
    assert tied["len"].tolist() == [4096, 0]
    assert tied["errno"].fillna("").tolist() == ["", "EPIPE"]
    assert tied["actor"].astype(str).tolist() == ["server", "server"]
    # curl's send: strace did not trace curl, so nothing says which socket it was
    assert sends.loc[sends["len"] == 78, "flow"].tolist() == [""]


def test_kernel_without_offset_is_a_clear_error():
    with pytest.raises(EventParseError, match="clock offset"):
        kernel.parse(KERNEL_SEED, ParseContext(trace_to_realtime_ns=None))
