import pandas as pd
import pytest

from analysis.events.context import ParseContext
from analysis.errors import EventParseError
from analysis.events import strace
from tests.analysis.helpers import validate_source as validate
from tests.analysis.helpers import SEED, SEED_FLOW, V6, V6_FLOW, flows_table
from tests.analysis.lines import STRACE_BARE, STRACE_SEED, STRACE_V6


def test_seed_lines_give_the_socket_calls_with_kinds_errnos_and_flow():
    rows = strace.parse(STRACE_SEED, ParseContext(flows=flows_table(SEED)))
    validate(rows)
    sock = rows[rows["flow"] == SEED_FLOW]
    assert list(sock["kind"].astype(str)) == ["read", "read_error", "read_eof", "write", "write_error", "signal", "close"]
    assert list(sock["errno"].fillna("")) == ["", "EAGAIN", "", "", "EPIPE", "", ""]
    assert sock["len"].fillna(-1).tolist()[:5] == [78, -1, 0, 4096, -1]
    assert (sock["actor"] == "server").all()
    # pipes and files (-yy shows them) are not connections: dropped
    assert not rows["detail"].str.contains("pipe:|zoneinfo", regex=True).any()
    # SIGURG has no connection; SIGPIPE follows the EPIPE of the same thread
    assert rows.loc[rows["detail"].str.contains("SIGURG"), "flow"].tolist() == [""]


def test_unfinished_and_resumed_become_one_row_at_entry_time_exactly():
    rows = strace.parse(STRACE_SEED, ParseContext(flows=flows_table(SEED)))
    eagain = rows[rows["errno"] == "EAGAIN"].iloc[0]
    assert eagain["ts_ns"] == 1795472645_649480000  # the <unfinished ...> line's time, to the µs, no float rounding
    assert eagain["detail"].startswith("read(4<TCP:[127.0.0.1:3917->127.0.0.1:51850]>")
    assert "resumed" not in eagain["detail"]


def test_ipv6_yy_decoration_and_pid_prefix():
    rows = strace.parse(STRACE_V6, ParseContext(flows=flows_table(V6)))
    tied = rows[rows["flow"] == V6_FLOW]
    # the first line is a <... resumed> whose <unfinished ...> head is not in the text: dropped
    assert list(tied["kind"].astype(str)) == ["read", "write", "write_error", "signal", "close"]
    assert tied.loc[tied["kind"] == "write_error", "errno"].tolist() == ["EPIPE"]
    assert (tied["actor"] == "server").all()
    assert rows.loc[rows["detail"].str.contains("exited"), "kind"].astype(str).tolist() == ["log"]


def test_without_yy_the_fd_and_timing_heuristic_ties_the_calls():
    rows = strace.parse(STRACE_BARE, ParseContext(flows=flows_table(("[::1]:47174", "[::1]:3931", 1795473339150000000))))
    assert set(rows["flow"]) == {"[::1]:47174>[::1]:3931"}
    assert rows["errno"].tolist()[-1] == "EPIPE"


def test_not_strace_is_a_clear_error():
    with pytest.raises(EventParseError, match="strace"):
        strace.parse("hello\nworld\n", ParseContext())


def test_accept4_is_tied_to_its_connection_by_the_4_tuple_in_its_return_value():
    """-yy decorates the returned fd with the new connection (the listening fd names only the server side)."""
    accepted = ('7201  1795472645.634900 accept4(3<TCP:[127.0.0.1:3917]>, {sa_family=AF_INET, sin_port=htons(51850), '
                'sin_addr=inet_addr("127.0.0.1")}, [112 => 16], SOCK_CLOEXEC|SOCK_NONBLOCK) = '
                '4<TCP:[127.0.0.1:3917->127.0.0.1:51850]> <0.000032>\n'
                '7201  1795472645.635000 accept4(3<TCP:[127.0.0.1:3917]>, 0xc00008da90, [112], SOCK_CLOEXEC) = -1 '
                'EAGAIN (Resource temporarily unavailable) <0.000044>\n'
                '[pid 17687] 1795473337.642605 accept4(3<TCPv6:[[::1]:3931]>, {sa_family=AF_INET6, sin6_port=htons(47164)}, '
                '[28], SOCK_CLOEXEC) = 4<TCPv6:[[::1]:3931->[::1]:47164]> <0.004948>\n')
    rows = strace.parse(accepted, ParseContext(flows=flows_table(SEED, V6)))
    assert rows["kind"].astype(str).tolist() == ["accept", "accept", "accept"]
    assert rows["flow"].tolist() == [SEED_FLOW, "", V6_FLOW]  # the EAGAIN accepted nothing
    assert rows["actor"].astype(str).tolist() == ["server"] * 3


def test_sendfile_is_a_write_on_its_socket_and_an_epipe_from_it_a_write_error():
    """nginx serves files with sendfile(2): the recorder traces it, so the parser reads it (it once dropped it)."""
    text = (
        '7201  1795472646.650393 sendfile(4<TCP:[127.0.0.1:3917->127.0.0.1:51850]>, 5</srv/www/big.bin>, '
        '[0] => [65536], 65536) = 65536 <0.000173>\n'
        '7201  1795472646.650645 sendfile(4<TCP:[127.0.0.1:3917->127.0.0.1:51850]>, 5</srv/www/big.bin>, '
        '[65536], 65536) = -1 EPIPE (Broken pipe) <0.000036>\n'
    )
    rows = strace.parse(text, ParseContext(flows=flows_table(SEED)))
    validate(rows)
    assert list(rows["kind"].astype(str)) == ["write", "write_error"]
    assert rows["len"].fillna(-1).tolist() == [65536, -1]
    assert list(rows["errno"].fillna("")) == ["", "EPIPE"]
    assert (rows["flow"] == SEED_FLOW).all()

