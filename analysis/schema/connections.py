"""The connection table's schema: one row per connection, its TCP facts and its diagnosis.

``Timeline.connections`` (analysis.timeline) holds these columns, in this
order; the exports (``abortscope analyze --table connections``) use the names
verbatim and ``python -m analysis.schema`` prints the table for the README.

Two parts, computed by two layers:

- :data:`FLOW_COLUMNS`, from the packets alone (analysis.tcp: flows.py, then
  facts.py and history.py); ``Timeline.flows`` is exactly this part. The
  parsers of the other sources need it to tie their events to connections.
- :data:`DIAGNOSIS_COLUMNS`, from every source (analysis.diagnosis.table):
  the verdict, the two roles, the signals the verdict rules read, and the
  evidence of the non-packet sources. Evidence on the wire is the close
  facts of the first part.

One direction vocabulary: a column about one side ends in ``_client`` or
``_server`` (the client sent the first SYN), and a column naming a side
(``*_by``, ``closer``, ``writer``) holds ``client`` or ``server``. Frames are
tshark frame numbers; times are ns since the Unix epoch (the timeline's
``ts_ns``); "after" means later at the capture point. Missing facts are null.
"""

from __future__ import annotations

import pandas as pd

from analysis.schema.columns import Column, check

_SIDES = ("client", "server")


def _per_side(name: str, dtype: str, nullable: bool, unit: str, doc: str) -> tuple[Column, ...]:
    """One column per side: ``name`` with ``{side}`` filled, and ``doc`` with ``{side}`` (and ``{peer}``)."""
    return tuple(Column(name.format(side=side), dtype, nullable, unit, doc.format(side=side, peer=peer))
                 for side, peer in zip(_SIDES, reversed(_SIDES)))


def _first(fact: str, what: str) -> tuple[Column, ...]:
    """The ``first_<fact>_by/_frame/_ts_ns`` trio: whichever side's first ``what`` came first."""
    return (
        Column(f"first_{fact}_by", "string", True, "", f"client | server: who sent the connection's first {what}."),
        Column(f"first_{fact}_frame", "Int64", True, "", f"Frame of the connection's first {what}."),
        Column(f"first_{fact}_ts_ns", "Int64", True, "ns since the Unix epoch", f"Time of that {what}."),
    )


#: What analysis.tcp computes from the packets (``Timeline.flows``).
FLOW_COLUMNS: tuple[Column, ...] = (
    Column("conn", "int64", False, "",
           "Connection number, 0, 1, ... in order of first packet: the key, and the timeline's `conn`."),
    Column("flow", "string", False, "",
           "Connection id `client_ip:port>server_ip:port` (IPv6 in brackets); `#2`, `#3`... for later "
           "connections with the same text (a reused 4-tuple, another VLAN)."),
    Column("client", "string", False, "", "The client's endpoint `ip:port`."),
    Column("server", "string", False, "", "The server's endpoint `ip:port`."),
    Column("role_guessed", "bool", False, "",
           "No SYN and no SYN-ACK seen: the server is guessed (the well-known port, else the lower port)."),
    Column("ip_version", "int8", False, "", "4 or 6."),
    Column("vlan", "string", True, "", "VLAN stack of the first packet, outer first, `;`-joined ('' untagged)."),
    Column("packets", "int64", False, "packets", "TCP segments of the connection in the capture."),
    *_per_side("packets_{side}", "int64", False, "packets", "Segments the {side} sent."),
    *_per_side("bytes_{side}", "int64", False, "bytes",
               "TCP payload the {side} sent (IP lengths; retransmissions counted again)."),
    Column("first_frame", "int64", False, "", "Frame of the connection's first packet."),
    Column("last_frame", "int64", False, "", "Frame of its last packet."),
    Column("first_ts_ns", "int64", False, "ns since the Unix epoch",
           "Time of its first packet: the timeline's `t_rel` counts from here."),
    Column("last_ts_ns", "int64", False, "ns since the Unix epoch", "Time of its last packet."),
    Column("duration_s", "float64", False, "s", "From the first packet to the last."),
    Column("first_file", "string", False, "",
           "The capture file of its first packet (the timeline's `file`): with a capture in several files "
           "(rotated by tcpdump -C/-G), a connection can start in one and end in a later one."),
    Column("last_file", "string", False, "", "The capture file of its last packet."),
    *_per_side("isn_{side}", "Int64", True, "", "The {side}'s initial sequence number (null: its SYN was not captured)."),
    *(c for fact in ("fin", "rst") for c in (
        *(column for side in _SIDES for column in (
            Column(f"{fact}_frame_{side}", "Int64", True, "", f"Frame of the {side}'s first {fact.upper()}."),
            Column(f"{fact}_ts_ns_{side}", "Int64", True, "ns since the Unix epoch", "Its time."))),
        *_first(fact, fact.upper()))),
    Column("data_after_fin_by", "string", True, "",
           "client | server: the side that sent payload after the peer's FIN (a write after the peer's close)."),
    Column("data_after_fin_frame", "Int64", True, "", "Frame of that first late payload."),
    Column("data_after_fin_ts_ns", "Int64", True, "ns since the Unix epoch", "Its time."),
    Column("data_after_fin_len", "Int64", True, "bytes", "Its payload length."),
    *(c for side, peer in zip(_SIDES, reversed(_SIDES)) for c in (
        Column(f"bytes_after_peer_fin_{side}", "int64", False, "bytes",
               f"New payload the {side} sent after the {peer}'s FIN, by sequence range (from the furthest it had "
               f"got before that FIN to the furthest after): retransmissions and overlaps count once."),
        Column(f"bytes_before_peer_fin_{side}", "int64", False, "bytes",
               f"Payload the {side} sent before the {peer}'s FIN (0 from the server: the request was pending)."))),
    *_per_side("first_payload_ts_ns_{side}", "Int64", True, "ns since the Unix epoch",
               "When the {side} first sent payload (the client's: its request); null when it sent none."),
    Column("rst_answer_frame", "Int64", True, "",
           "The FIN sender's first RST after that late payload: its kernel answering data sent to a closed socket."),
    Column("rst_answer_ts_ns", "Int64", True, "ns since the Unix epoch", "Its time."),
    Column("rst_answer_delay_ns", "Int64", True, "ns", "From the late payload to that RST."),
    Column("lost_after_rst_bytes", "int64", False, "bytes",
           "Payload the other side still sent after the first RST: it can never be delivered."),
    Column("lost_after_rst_frame", "Int64", True, "", "Frame of the first such payload."),
    Column("unacked_at_rst_bytes", "Int64", True, "bytes",
           "Payload the RST sender had received on the wire but not acknowledged when it reset "
           "(null: it never sent an ACK, or no RST)."),
    Column("zero_window_frame", "Int64", True, "",
           "The RST sender had stopped reading: its advertised window was 0 from this frame until its first RST "
           "(null: its last window before the RST was not 0, or no RST). Raw window field: 0 whatever the scale."),
    Column("zero_window_ts_ns", "Int64", True, "ns since the Unix epoch", "Its time."),
    Column("half_close_by", "string", True, "",
           "client | server: closed its direction (FIN), and still acknowledged the peer's later payload: "
           "a working half-close."),
    Column("half_close_frame", "Int64", True, "", "Frame of that acknowledgement."),
    Column("half_close_ts_ns", "Int64", True, "ns since the Unix epoch", "Its time."),
    Column("history", "string", False, "", "Zeek-style history letters (legend: analysis.tcp.history)."),
    Column("conn_state", "string", False, "", "Zeek conn_state code (legend: analysis.tcp.history)."),
)


def _evidence(label: str, what: str, *extra: Column) -> tuple[Column, ...]:
    return (Column(f"{label}_ts_ns", "Int64", True, "ns since the Unix epoch", f"When {what}."), *extra)


#: What analysis.diagnosis adds, from every source.
DIAGNOSIS_COLUMNS: tuple[Column, ...] = (
    Column("verdict", "category", False, "",
           "What happened: the first rule of analysis.diagnosis.verdicts.RULES whose signals hold."),
    Column("closer", "string", False, "",
           "client | server: the side that closed first (its FIN came first; the client when nothing closed)."),
    Column("writer", "string", False, "", "client | server: the other side, the one that may write after that close."),
    # the signals the verdict rules read (analysis.diagnosis.signals.Signal)
    Column("refused", "bool", False, "", "The client's SYN was answered by RST, no SYN-ACK (conn_state REJ)."),
    Column("late_data", "bool", False, "", "A side sent payload after the peer's FIN (data_after_fin_frame)."),
    Column("rst_answers_late", "bool", False, "", "The FIN sender answered that payload with RST (rst_answer_frame)."),
    Column("client_abort", "bool", False, "", "The first RST came from the client, before any FIN of its own, "
           "and it did not answer late data."),
    Column("server_abort", "bool", False, "", "The same for the server."),
    Column("syscall_error", "bool", False, "",
           "A traced syscall on the connection failed with a connection error (not EAGAIN/EINTR)."),
    Column("syscall_epipe", "bool", False, "", "... one of them failed with EPIPE."),
    Column("syscall_econnreset", "bool", False, "", "... one of them failed with ECONNRESET."),
    Column("write_failed", "bool", False, "", "... one of them was a write (write_error_ts_ns)."),
    Column("syscall_seen", "bool", False, "", "The syscall trace has calls on this connection."),
    Column("app_seen", "bool", False, "",
           "The writer's application (app.jsonl, --applog, --jsonl) has events tied to this connection: only "
           "those count, not a log loaded for other connections."),
    Column("app_error", "bool", False, "", "The application reported an error for it."),
    Column("app_abort", "bool", False, "",
           "The writer's application logged that the peer had gone (it noticed: context canceled, an abort)."),
    Column("half_close", "bool", False, "", "A working half-close (half_close_frame)."),
    Column("response_cut", "bool", False, "",
           "The writer's application gave up its response (app_abort), or the body it says it wrote (app_write_len) "
           "is more than the payload it sent."),
    Column("unanswered", "bool", False, "",
           "The client sent payload (its request) and closed first with FIN, no RST, and the server sent no payload."),
    Column("both_fin", "bool", False, "", "FIN from both sides."),
    Column("any_fin", "bool", False, "", "At least one FIN."),
    Column("any_rst", "bool", False, "", "At least one RST."),
    # the bytes the story is about
    Column("bytes_after_close", "int64", False, "bytes",
           "New payload the writer sent after the closer's FIN (bytes_after_peer_fin_<writer>)."),
    Column("bytes_lost", "int64", False, "bytes",
           "Payload of the side that did not reset that the RST sender never acknowledged: unacked_at_rst_bytes "
           "+ lost_after_rst_bytes (0 without a RST)."),
    Column("delivered_before_rst", "bool", False, "",
           "The side that did not reset had sent payload, and the RST sender had acknowledged all of it by the "
           "first RST, that RST's own acknowledgement included (unacked_at_rst_bytes 0, nothing sent after it): none "
           "of it was lost on the wire."),
    # what the first RST did to the socket that received it (analysis.tcp.resets: Linux's tcp_reset())
    Column("reset_state", "string", True, "",
           "The RST receiver's state when the first RST arrived: the kernel's (state_at_rst) when traced, else "
           "inferred from the packets (SYN_SENT: no SYN-ACK; CLOSE_WAIT: the sender's FIN came first; else "
           "ESTABLISHED). Null without a RST."),
    Column("reset_state_source", "string", True, "", "kernel | packets: where reset_state comes from."),
    Column("reset_errno", "string", True, "",
           "The error tcp_reset() reports to that socket in that state: ECONNREFUSED (SYN_SENT), EPIPE (CLOSE_WAIT), "
           "ECONNRESET (any other); null when there is none (CLOSE: ignored) or no RST."),
    # kernel evidence around the first RST (tracefs, within 20 ms of it)
    Column("rst_reason", "string", True, "",
           "The kernel's reason for the first RST (tcp_send_reset, e.g. TCP_TIMEWAIT_SOCKET)."),
    *_evidence("rst_reason", "the kernel sent that RST"),
    Column("state_at_rst", "string", True, "",
           "The state the RST receiver's socket left for CLOSE (e.g. CLOSE_WAIT: a write then fails with EPIPE)."),
    *_evidence("state_at_rst", "that socket went to CLOSE"),
    Column("sk_error_errno", "string", True, "", "The error the kernel reported on the receiver's socket."),
    Column("sk_error_detail", "string", True, "", "That report as traced (inet_sk_error_report)."),
    *_evidence("sk_error", "it was reported"),
    # the calls' evidence: strace's; without strace of the connection, the kernel's sock_send_length (sends only)
    Column("syscall_seen_by", "string", True, "",
           "client | server | both: whose calls on this connection the syscall trace shows (a bundle's strace "
           "traces the server); null: none."),
    Column("calls_source", "string", True, "",
           "syscall | kernel: where the syscall_error, write_error and write_after_fin evidence comes from: strace "
           "when it traced calls on this connection, else the kernel's sock_send_length results (tracefs, `record "
           "--syscalls kernel`: sends only, a failed send is a write_error); null: neither."),
    *_evidence("syscall_error", "the first failing syscall (connection error) was entered",
               Column("syscall_error_kind", "string", True, "", "write_error | read_error (a failed send: write_error)."),
               Column("syscall_error_errno", "string", True, "", "Its errno (EPIPE, ECONNRESET, ...)."),
               Column("syscall_error_call", "string", True, "",
                      "The call as strace printed it (or the kernel's sock_send_length, see calls_source)."),
               Column("syscall_error_by", "string", True, "", "client | server: the side that made it.")),
    *_evidence("write_error", "the first failing write was entered",
               Column("write_error_errno", "string", True, "", "Its errno."),
               Column("write_error_call", "string", True, "", "The call as strace printed it (or the kernel's send)."),
               Column("write_error_by", "string", True, "", "client | server.")),
    *_evidence("write_after_fin", "the writer's first successful write after the closer's FIN was entered",
               Column("write_after_fin_len", "Int64", True, "bytes", "What it returned."),
               Column("write_after_fin_call", "string", True, "", "The call as strace printed it (or the kernel's send).")),
    *_evidence("read_eof", "a read first returned 0 (the peer's FIN reached the application)",
               Column("read_eof_by", "string", True, "", "client | server.")),
    # application evidence (app.jsonl, --applog, --jsonl)
    *_evidence("app_error", "the application first reported an error",
               Column("app_error_errno", "string", True, "", "Its errno, as logged or read from the text."),
               Column("app_error_text", "string", True, "", "What it said."),
               Column("app_error_by", "string", True, "", "client | server.")),
    *_evidence("app_abort", "the writer's application logged that the peer had gone (an abort)",
               Column("app_abort_text", "string", True, "", "What it said."),
               Column("app_abort_len", "Int64", True, "bytes", "The body it gave up, when it says (asked).")),
    *_evidence("app_write", "the application last recorded a successful write",
               Column("app_write_len", "Int64", True, "bytes", "How much it wrote."),
               Column("app_write_by", "string", True, "", "client | server.")),
    *_evidence("app_response", "the writer's application said its handler returned (its response event): "
               "what the writer sends after this, its server library sends on its own",
               Column("app_response_text", "string", True, "", "What it said.")),
    # proxy chains (analysis.diagnosis.links): the connection a proxy's connection is tied to
    Column("link_conn", "Int64", True, "",
           "The other connection of a proxy chain (its conn): the proxy's upstream connection for this one, or the "
           "client's connection this one is the upstream of; null when not linked."),
    Column("link_role", "string", True, "",
           "proxied-by: this connection's request was forwarded by its server (the proxy) over link_conn; "
           "upstream-of: this is the proxy's upstream connection for link_conn. A connection in the middle of a "
           "longer chain shows its link towards the client."),
    Column("link_delay_ns", "Int64", True, "ns",
           "From the client's close (first FIN or RST) of the proxied connection to the proxy's close of its "
           "upstream connection."),
)

CONNECTION_COLUMNS: tuple[Column, ...] = FLOW_COLUMNS + DIAGNOSIS_COLUMNS
FLOW_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in FLOW_COLUMNS)
CONNECTION_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in CONNECTION_COLUMNS)


def validate_flows(frame: pd.DataFrame) -> None:
    """Raise SchemaError unless ``frame`` is a flows table (:data:`FLOW_COLUMNS`, in order, with their dtypes)."""
    check(frame, FLOW_COLUMNS, "flows")


def validate_connections(frame: pd.DataFrame) -> None:
    """Raise SchemaError unless ``frame`` is a connection table (:data:`CONNECTION_COLUMNS`)."""
    check(frame, CONNECTION_COLUMNS, "connection table")
