"""A plain per-connection implementation of the signals and evidence: the reference the vectorized table is held to.

This is the diagnosis as it was written before the connection table
(analysis/diagnosis/signals.py's ``gather``, one connection at a time, a
DataFrame filter per question), kept here on purpose: slow, obvious, and
independent of analysis.diagnosis. Only the column names follow the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

TRANSIENT = {"EAGAIN", "EWOULDBLOCK", "EINTR", "EINPROGRESS"}
NEAR_NS = 20_000_000
OTHER = {"client": "server", "server": "client"}


@dataclass(frozen=True)
class Item:
    ts_ns: int
    frame: int | None
    actor: str | None
    errno: str | None
    detail: str | None
    length: int | None


@dataclass(frozen=True)
class Reference:
    closer: str
    writer: str
    signals: dict[str, bool]
    items: dict[str, Item]


def _value(row, name):
    value = row.get(name)
    return None if value is None or pd.isna(value) else value


def _item(row) -> Item:
    def get(name):
        value = row.get(name)
        return None if value is None or pd.isna(value) else value

    return Item(int(row["ts_ns"]), None if get("frame") is None else int(get("frame")), get("actor"), get("errno"),
                get("detail"), None if get("len") is None else int(get("len")))


def gather(flow_row, events: pd.DataFrame) -> Reference:
    """Signals and evidence of one connection (``events``: its rows of the timeline, every source)."""
    items: dict[str, Item] = {}
    source = events["source"].astype(str)
    kind = events["kind"].astype(str)
    packets = events[source == "packet"]
    kernel, kernel_kind = events[source == "kernel"], kind[source == "kernel"]
    syscalls, syscall_kind = events[source == "syscall"], kind[source == "syscall"]
    app, app_kind = events[source == "app"], kind[source == "app"]

    writer = _value(flow_row, "data_after_fin_by")
    closer = OTHER.get(writer) if writer else (_value(flow_row, "first_fin_by") or "client")
    writer = writer or OTHER[closer]

    for label, column in (("fin", "first_fin_frame"), ("late_data", "data_after_fin_frame"),
                          ("rst_answer", "rst_answer_frame"), ("first_rst", "first_rst_frame"),
                          ("half_close", "half_close_frame"), ("writer_fin", f"fin_frame_{writer}")):
        frame = _value(flow_row, column)
        hit = packets[packets["frame"] == int(frame)] if frame is not None else packets.iloc[:0]
        if len(hit):
            items[label] = _item(hit.iloc[0])

    rst = items.get("first_rst")
    if rst is not None and len(kernel):
        near_mask = (kernel["ts_ns"] - rst.ts_ns).abs() <= NEAR_NS
        near, near_kind = kernel[near_mask], kernel_kind[near_mask]
        actor = near["actor"].astype(str)
        sent = near[(near_kind == "rst_sent") & (actor == rst.actor)]
        if len(sent):
            items["rst_reason"] = _item(sent.iloc[int((sent["ts_ns"] - rst.ts_ns).abs().to_numpy().argmin())])
        receiver = OTHER.get(rst.actor)
        closing = near[(near_kind == "state") & (actor == receiver) & near["detail"].astype(str).str.endswith("->CLOSE")]
        if len(closing):
            items["state_at_rst"] = _item(closing.iloc[0])
        err = near[(near_kind == "sk_error") & (actor == receiver)]
        if len(err):
            items["sk_error"] = _item(err.iloc[0])

    failing_mask = syscall_kind.isin(["write_error", "read_error"]) & syscalls["errno"].notna() \
        & ~syscalls["errno"].isin(list(TRANSIENT))
    failing = syscalls[failing_mask]
    if len(failing):
        items["syscall_error"] = _item(failing.iloc[0])
        write_fail = failing[syscall_kind[failing_mask] == "write_error"]
        if len(write_fail):
            items["write_error"] = _item(write_fail.iloc[0])
    fin = items.get("fin")
    if fin is not None:
        ok = syscalls[(syscall_kind == "write") & (syscalls["ts_ns"] > fin.ts_ns) & (syscalls["actor"].astype(str) == writer)]
        if len(ok):
            items["write_after_fin"] = _item(ok.iloc[0])
    eof = syscalls[syscall_kind == "read_eof"]
    if len(eof):
        items["read_eof"] = _item(eof.iloc[0])

    app_errors = app[app["errno"].notna() | app_kind.isin(["write_error", "read_error"])]
    if len(app_errors):
        items["app_error"] = _item(app_errors.iloc[0])
    by_writer = app["actor"].astype(str) == writer
    aborts = app[(app_kind == "abort") & by_writer]
    if len(aborts):
        items["app_abort"] = _item(aborts.iloc[0])
    writes = app[(app_kind == "write") & app["errno"].isna()]
    if len(writes):
        items["app_write"] = _item(writes.iloc[-1])
    responses = app[(app_kind == "response") & by_writer]
    if len(responses):
        items["app_response"] = _item(responses.iloc[0])

    first_rst_by = _value(flow_row, "first_rst_by")
    first_rst_frame = _value(flow_row, "first_rst_frame")

    def aborted(side: str) -> bool:
        own_fin = _value(flow_row, f"fin_frame_{side}")
        return first_rst_by == side and (own_fin is None or own_fin > first_rst_frame) \
            and _value(flow_row, "rst_answer_frame") is None

    errnos_seen = set(failing["errno"].astype(str))
    writer_sent = int(flow_row[f"bytes_{writer}"])
    abort = items.get("app_abort")
    write = items.get("app_write")
    body = abort.length if abort is not None and abort.length is not None else (
        write.length if write is not None and write.actor == writer and write.length is not None else -1)
    signals = {
        "refused": str(flow_row.get("conn_state")) == "REJ",
        "late_data": "late_data" in items,
        "rst_answers_late": "rst_answer" in items,
        "client_abort": aborted("client"),
        "server_abort": aborted("server"),
        "syscall_error": "syscall_error" in items,
        "syscall_epipe": "EPIPE" in errnos_seen,
        "syscall_econnreset": "ECONNRESET" in errnos_seen,
        "write_failed": "write_error" in items,
        "syscall_seen": len(syscalls) > 0,
        "app_seen": bool(by_writer.any()),
        "app_error": "app_error" in items,
        "app_abort": "app_abort" in items,
        "half_close": "half_close" in items,
        "response_cut": "app_abort" in items or body > writer_sent,
        "unanswered": _value(flow_row, "first_fin_by") == "client" and int(flow_row["bytes_client"]) > 0
        and int(flow_row["bytes_server"]) == 0 and first_rst_frame is None,
        "both_fin": _value(flow_row, "fin_frame_client") is not None and _value(flow_row, "fin_frame_server") is not None,
        "any_fin": _value(flow_row, "first_fin_frame") is not None,
        "any_rst": first_rst_frame is not None,
    }
    return Reference(closer, writer, signals, items)


#: The verdict rules, restated as the README documents them: (verdict, all_of, none_of), first match wins.
RULES = (
    ("REFUSED", ("refused",), ()),
    ("ERROR_SWALLOWED_BY_APP", ("write_failed", "app_seen"), ("app_error", "app_abort")),
    ("WRITE_AFTER_PEER_FIN_RST_EPIPE", ("late_data", "rst_answers_late", "syscall_epipe"), ()),
    ("RST_BY_CLIENT_ECONNRESET", ("client_abort", "syscall_econnreset"), ()),
    ("WRITE_AFTER_PEER_FIN_RST", ("late_data", "rst_answers_late"), ()),
    ("RST_BY_CLIENT", ("client_abort",), ()),
    ("RST_BY_SERVER", ("server_abort",), ()),
    ("APP_ERROR_WITHOUT_SYSCALL_ERROR", ("app_error", "syscall_seen"), ("syscall_error", "any_rst")),
    ("HALF_CLOSE_RESPONSE_CUT", ("half_close", "response_cut"), ("any_rst",)),
    ("HALF_CLOSE_CLEAN", ("half_close",), ("any_rst",)),
    ("CLOSED_BEFORE_RESPONSE", ("unanswered",), ("any_rst",)),
    ("NORMAL_CLOSE", ("both_fin",), ("any_rst",)),
    ("RST_AFTER_CLOSE", ("any_rst",), ()),
    ("ONE_SIDED_CLOSE", ("any_fin",), ()),
    ("OPEN", (), ()),
)


def verdict(signals: dict[str, bool]) -> str:
    for name, all_of, none_of in RULES:
        if all(signals[s] for s in all_of) and not any(signals[s] for s in none_of):
            return name
    raise AssertionError("the last rule matches everything")


# -- what the first RST did to its receiver, and proxy chains: one connection (or pair) at a time -----------------

#: net/ipv4/tcp_input.c, tcp_reset(), restated
RESET_ERRNO = {"SYN_SENT": "ECONNREFUSED", "CLOSE_WAIT": "EPIPE", "CLOSE": None}
LINK_WINDOW_NS = 50_000_000


def reset(flow_row, ref: Reference) -> tuple[str | None, str | None, str | None]:
    """(reset_state, its source, reset_errno) of one connection."""
    sender = _value(flow_row, "first_rst_by")
    if sender is None:
        return None, None, None
    kernel = ref.items.get("state_at_rst")
    if kernel is not None:
        state, source = kernel.detail.split("->")[0], "kernel"
    else:
        fin, rst = _value(flow_row, f"fin_frame_{sender}"), _value(flow_row, "first_rst_frame")
        state = "SYN_SENT" if ref.signals["refused"] else "CLOSE_WAIT" if fin is not None and fin < rst else "ESTABLISHED"
        source = "packets"
    return state, source, RESET_ERRNO.get(state, "ECONNRESET")


def delivered_before_rst(flow_row) -> bool:
    sender = _value(flow_row, "first_rst_by")
    if sender is None:
        return False
    peer = OTHER[sender]
    return int(flow_row[f"bytes_{peer}"]) > 0 and _value(flow_row, "unacked_at_rst_bytes") == 0 \
        and int(flow_row["lost_after_rst_bytes"]) == 0


def _client_close(row):
    fin, rst = _value(row, "fin_ts_ns_client"), _value(row, "rst_ts_ns_client")
    return fin if rst is None or (fin is not None and fin <= rst) else rst


def _host(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[0].strip("[]")


def links(rows: list[dict]) -> dict[int, tuple[int, str, int]]:
    """conn -> (linked conn, role, delay): for each upstream candidate, the connection to the same host whose client
    closed last before its own close (within the window), if the rules hold; a proxied connection keeps the
    soonest."""
    best: dict[int, tuple[int, int]] = {}  # a -> (delay, b)
    for b in rows:
        b_close = _client_close(b)
        if b_close is None:
            continue
        fronts = [a for a in rows if a is not b and _host(a["server"]) == _host(b["client"])
                  and _value(a, "first_payload_ts_ns_client") is not None and _client_close(a) is not None
                  and 0 < b_close - _client_close(a) <= LINK_WINDOW_NS]
        if not fronts:
            continue
        a = max(fronts, key=_client_close)
        if a["server"] == b["server"] or not a["first_payload_ts_ns_client"] < b["first_ts_ns"] <= _client_close(a):
            continue
        delay = b_close - _client_close(a)
        if a["conn"] not in best or delay < best[a["conn"]][0]:
            best[a["conn"]] = (delay, b["conn"])
    out = {}
    for a, (delay, b) in best.items():
        out[b] = (a, "upstream-of", delay)
        out[a] = (b, "proxied-by", delay)
    return out
