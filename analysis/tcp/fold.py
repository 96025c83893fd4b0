"""The connection pass, a batch of packets at a time: rules 1-5 of analysis.tcp.flows with state per key.

    fold = ConnectionFold()
    for batch in batches:                  # packet tables (analysis.pcap.table), in frame order
        step = fold.add(batch)             # step.packets: the batch annotated; step.finished: ended connections
    rest = fold.close()                    # the connections still open at the end
    flows = fold.flows(states)             # finished states -> flows-table rows (analysis.tcp.finish)

What is kept between batches is per key (endpoint pair, maybe VLAN stack)
and per connection, never per packet: the key's rule-2 facts (reuse.py) and
the state of its current connection (state.py), about 0.7 KB each. A key's
connection *ends* for the pass when the key starts a new one (a reused
4-tuple): no later packet can join it, so its row is final and handed over
(``Step.finished``); the others end with the capture (:meth:`close`).

Exactness: the states, the per-packet annotations and the rows equal the
whole-table rules' exactly, except where a later batch changes what an
earlier one assumed (analysis.tcp.state.Hazard, a VLAN split in identity.py).
Then :attr:`hazards` says so, with what the pass learnt, and a pass run again
with those :class:`Hints` is exact (analysis.stream.passes does that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.tcp import facts, windows
from analysis.tcp import flags as F
from analysis.tcp.finish import Names, flows_table
from analysis.tcp.flows import arrow_connection_texts, host_text, nth_in_group
from analysis.tcp.identity import KeyMaker
from analysis.tcp.keys import GrowingIds, TextIds
from analysis.tcp.reuse import ReuseState, segments
from analysis.tcp.roles import client_endpoints, directions, relative_numbers, update_roles
from analysis.tcp.state import Hazard, LiveStates, States

_PORTS = 65536


@dataclass(frozen=True)
class Hints:
    """What an earlier pass over the same packets learnt, for the one run again: pairs to split by VLAN from the
    start, and per connection number the final client endpoint, ISNs (by direction) and late-payload end."""

    split_pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))  # endpoint pairs
    conns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # ascending
    client: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    isn: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    late_end: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def of(self, conns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(client, isn, late end) for these connections; -1 (late end: -2) where not hinted; None: no hint at all."""
        if not len(self.conns):
            return None
        at = np.minimum(np.searchsorted(self.conns, conns), len(self.conns) - 1)
        hit = self.conns[at] == conns
        return (np.where(hit, self.client[at], -1), np.where(hit[:, None], self.isn[at], -1),
                np.where(hit, self.late_end[at], -2))


@dataclass
class Step:
    """What one batch gives."""

    packets: pd.DataFrame  # the batch in frame order, with conn, from_client, seq, ack and kind
    finished: States  # connections no later packet can join, by connection number
    conns: States  # every connection with packets in the batch, as they stand after it (its rows' conn)
    client: np.ndarray  # ... and each one's client endpoint after the batch


class ConnectionFold:
    """Rules 1-5 over a stream of packet batches (see the module docstring)."""

    def __init__(self, hints: Hints | None = None, files: tuple[str, ...] = ("",)):
        self.hints = hints or Hints()
        self.keys = KeyMaker(split_hint=self.hints.split_pairs)
        self.reuse = ReuseState()
        self.live = LiveStates()
        self.files = files
        self.next_conn = 0
        self._hosts = TextIds()  # normalised host texts: two raw addresses may print alike (rule 5's numbering)
        self._host_of_address = np.zeros(0, dtype=np.int64)
        self._host_endpoints = GrowingIds()
        self._texts = GrowingIds()
        self._text_counts = np.zeros(0, dtype=np.int64)
        self._hazard_rows: list[States] = []

    def add(self, packets: pd.DataFrame) -> Step:
        packets = _in_frame_order(packets)
        frame, ts = packets["frame"].to_numpy(np.int64), packets["ts_ns"].to_numpy(np.int64)
        flags, seq_raw = packets["flags"].to_numpy(np.int64), packets["seq_raw"].to_numpy(np.int64)
        ident = self.keys.assign(packets)
        self.reuse.grow(self.keys.keys.count)
        segs = segments(ident.key, self.keys.keys.count, ident.fresh_rows, (flags & (F.SYN | F.ACK)) == F.SYN,
                        (flags & (F.FIN | F.RST)) != 0, seq_raw, self.reuse)
        ended = self.live.get(segs.ended)  # before the batch's connections replace them
        states = self._states_of(segs, ident, packets)
        hinted = self.hints.of(states["conn"])
        seg, d = segs.of_row, directions(states, segs.of_row, ident.ep_src)
        update_roles(states, seg, frame, flags, ident.ep_src, ident.ep_dst)
        client, _ = client_endpoints(states, hinted and hinted[0])
        side = seg * 2 + d
        seq, ack = relative_numbers(states, side, flags, frame, seq_raw, packets["ack_raw"].to_numpy(np.int64),
                                    hinted and hinted[1])
        length = packets["len"].to_numpy(np.int64)
        rows = facts.BatchRows(frame, ts, flags, length, seq, ack, packets["win"].to_numpy(np.int64), seg, d)
        facts.update(states, rows, hinted and hinted[2])
        windows.update(states, rows)
        self._number_texts(states, client, segs.carried)
        last = facts.max_per(seg, np.arange(len(seg)), len(states))
        states["last_frame"], states["last_ts"] = frame[last], ts[last]
        states["last_file"] = _files(packets)[last]
        self.live.put(segs.key[segs.last], states.take(segs.last))
        done = np.flatnonzero(~segs.last)
        done = done[np.argsort(states["conn"][done])]
        finished = States.joined([ended, states.take(done)]) if len(ended) else states.take(done)
        self._note_hazards(finished)
        from_client = ident.ep_src == client[seg]
        annotated = _annotated(packets, states["conn"][seg], from_client, seq, ack, flags, length)
        return Step(annotated, finished, states, client)

    def close(self) -> States:
        """The connections still open at the end (each key's last), by connection number. The fold is done:
        the live table is let go here, before the caller makes rows of these (the pass's peak memory)."""
        keys = np.argsort(self.live.states["conn"][:self.keys.keys.count])  # taken once, already in order
        rest = self.live.get(keys)
        self.live = LiveStates()
        self._note_hazards(rest)
        return rest

    def flows(self, states: States) -> pd.DataFrame:
        return flows_table(states, self.names())

    def names(self) -> Names:
        return Names(self.keys.addresses.array(), self.keys.vlans.array(), self.files)

    def texts(self, states: States, client: np.ndarray) -> pa.Array:
        """The id text (``flow``) of these connections with these clients, as their rows carry it (Arrow)."""
        server = np.where(states["first_src"] == client, states["first_dst"], states["first_src"])
        return arrow_connection_texts(client, server, states["nth"], self.keys.addresses.array())[0]

    @property
    def hazards(self) -> Hints | None:
        """None when every batch's assumptions held; else the hints for a pass run again (from this pass's
        final states of the connections concerned, or only the VLAN splits when those renumber connections)."""
        split = self.keys.hazards()
        if len(split):
            return Hints(split_pairs=np.unique(np.concatenate([self.hints.split_pairs, split]), axis=0))
        if not self._hazard_rows:
            return None
        hazardous = States.joined(self._hazard_rows)
        client, _ = client_endpoints(hazardous)
        conns = np.concatenate([self.hints.conns, hazardous["conn"]])
        order = np.argsort(conns, kind="stable")
        return Hints(self.hints.split_pairs, conns[order], np.concatenate([self.hints.client, client])[order],
                     np.concatenate([self.hints.isn, hazardous["isn"]])[order],
                     np.concatenate([self.hints.late_end, hazardous["late_end"]])[order])

    def _states_of(self, segs, ident, packets: pd.DataFrame) -> States:
        """The batch's connections: carried ones as the live table has them, new ones numbered and started."""
        states = States.fresh(len(segs.key))
        carried = np.flatnonzero(segs.carried)
        states.put(carried, self.live.get(segs.key[carried]))
        new = np.flatnonzero(~segs.carried)
        start = segs.start[new]
        for name, values in (("conn", self.next_conn + np.arange(len(new))),
                             ("first_src", ident.ep_src[start]), ("first_dst", ident.ep_dst[start]),
                             ("first_frame", packets["frame"].to_numpy()[start]),
                             ("first_ts", packets["ts_ns"].to_numpy()[start]), ("first_file", _files(packets)[start]),
                             ("ip_version", packets["ip_version"].to_numpy()[start]), ("vlan", ident.vlan[start])):
            states[name][new] = values  # one-wide fields are views
        self.next_conn += len(new)
        return states

    def _number_texts(self, states: States, client: np.ndarray, carried: np.ndarray) -> None:
        """Rule 5's ``#n`` for the new connections; a carried one whose client changed is a hazard."""
        changed = carried & (client != states["text_client"])
        states["hazard"] = states["hazard"] | np.where(changed, Hazard.ROLES, 0)
        new = np.flatnonzero(~carried)
        if not len(new):
            return
        client = client[new]
        server = np.where(states["first_src"][new] == client, states["first_dst"][new], states["first_src"][new])
        text, _, _ = self._texts.ids(self._host_endpoint(client) << 31 | self._host_endpoint(server))
        if len(self._text_counts) < self._texts.count:
            self._text_counts = np.concatenate([self._text_counts, np.zeros(self._texts.count, dtype=np.int64)])
        states["nth"][new] = self._text_counts[text] + nth_in_group(pd.factorize(text)[0])
        states["text_client"][new] = client
        np.add.at(self._text_counts, text, 1)

    def _host_endpoint(self, endpoints: np.ndarray) -> np.ndarray:
        """Endpoint ids -> ids of (printed host, port): what rule 5's text is made of."""
        texts = self.keys.addresses.texts
        if len(self._host_of_address) < len(texts):
            new = texts[len(self._host_of_address):]
            [hosts] = self._hosts.ids(pd.Series([host_text(t) for t in new], dtype=object).astype("string"))
            self._host_of_address = np.concatenate([self._host_of_address, hosts])
        hosts = self._host_of_address[endpoints // _PORTS] * _PORTS + endpoints % _PORTS
        ids, _, _ = self._host_endpoints.ids(hosts)
        return ids

    def _note_hazards(self, states: States) -> None:
        flagged = states["hazard"] != 0
        if flagged.any():
            self._hazard_rows.append(states.take(flagged))


def _in_frame_order(packets: pd.DataFrame) -> pd.DataFrame:
    frames = packets["frame"].to_numpy()
    if len(frames) > 1 and not (frames[1:] > frames[:-1]).all():
        packets = packets.sort_values("frame", kind="stable")
    if not isinstance(packets.index, pd.RangeIndex) or packets.index.start != 0:
        return packets.reset_index(drop=True)
    return packets.copy(deep=False)


def _files(packets: pd.DataFrame) -> np.ndarray:
    return packets["file"].to_numpy(np.int64) if "file" in packets.columns else np.zeros(len(packets), np.int64)


def _annotated(packets: pd.DataFrame, conn: np.ndarray, from_client: np.ndarray, seq: np.ndarray, ack: np.ndarray,
               flags: np.ndarray, length: np.ndarray) -> pd.DataFrame:
    """The packets with conn, from_client, seq, ack (<NA> without ACK) and kind, as Series (pandas keeps their
    arrays, where it would copy bare ones)."""
    no_ack = ack < 0
    for name, values in (("conn", conn), ("from_client", from_client), ("seq", seq),
                         ("ack", pd.arrays.IntegerArray(np.where(no_ack, 0, ack), no_ack)),
                         ("kind", F.packet_kinds(flags, length))):
        packets[name] = pd.Series(values, index=packets.index, copy=False)
    return packets
