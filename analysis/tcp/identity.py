"""Rule 1 of analysis.tcp.flows across batches: which key (endpoint pair, maybe VLAN stack) a packet belongs to.

An endpoint is ``address id * 65536 + port`` (address ids: analysis.tcp.keys,
by text): that number is the endpoint's id everywhere in the pass. A pair is
numbered from its two endpoints, packed into one int64: directly while there
are fewer than 32,768 addresses, else through dense endpoint numbers (the
pairs seen so far are renumbered into that form once, keeping their ids).

A key is an unordered pair of endpoints, split by VLAN stack only when one
direction of the pair shows several stacks. That is a property of the whole
capture, so across batches each pair remembers the stack it was first seen
on, which directions it was seen in and, once it has shown a second stack,
the first stack of each direction and whether a direction has shown more
than one. An unsplit pair's key is (pair, its first stack): when the pair
splits later, its earlier packets, all on that first stack, keep their key.
Only a pair whose two directions were on *different* stacks before it split
cannot be fixed that way: that is reported (:meth:`KeyMaker.hazards`, as the
pair's two endpoints), and the pass is run again with the pair split from its
first packet (``split_hint``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.tcp.keys import GrowingIds, TextIds

#: a split pair's other keys: -(1 + pair id * STACKS + stack id), beside the pairs in one table
STACKS = 1 << 20
_PORTS = 65536
#: endpoints below this pack two to an int64 as they are (addresses below 32,768)
_DIRECT = 1 << 31


@dataclass
class Identity:
    """Per packet of a batch: sender and receiver endpoint ids, the key id; and the keys first seen in it."""

    ep_src: np.ndarray  # address id * 65536 + port
    ep_dst: np.ndarray
    key: np.ndarray  # key id: the pair's id for its first stack's packets
    fresh_rows: np.ndarray  # the row of the first packet of each key first seen in this batch
    vlan: np.ndarray  # VLAN stack id of each packet


def _grown(values: np.ndarray, n: int, fill) -> np.ndarray:
    if len(values) >= n:
        return values
    out = np.full((max(n, len(values) * 3 // 2),) + values.shape[1:], fill, dtype=values.dtype)
    out[: len(values)] = values
    return out


@dataclass
class KeyMaker:
    """Rule 1 with the state it needs across batches. ``split_hint``: pairs (lower, higher endpoint) to split by
    VLAN from their first packet."""

    split_hint: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    addresses: TextIds = field(default_factory=TextIds)
    vlans: TextIds = field(default_factory=TextIds)
    keys: GrowingIds = field(default_factory=GrowingIds)  # pairs, and the other stacks of split pairs
    hazard_pairs: list[np.ndarray] = field(default_factory=list)
    dense: GrowingIds | None = None  # endpoint value -> dense number, once there are too many addresses

    def __post_init__(self) -> None:
        self.stack = np.zeros(0, dtype=np.int64)  # per pair: the stack it was first seen on
        self.split = np.zeros(0, dtype=bool)
        self.seen = np.zeros((0, 2), dtype=bool)  # per pair and direction: seen at all
        self.multi = np.zeros(0, dtype=bool)  # per pair: shown a second stack (then the two below are kept)
        self.dir_first = np.zeros((0, 2), dtype=np.int64)
        self.dir_multi = np.zeros((0, 2), dtype=bool)

    def assign(self, packets: pd.DataFrame) -> Identity:
        src, dst = self.addresses.ids(packets["src"], packets["dst"])
        ep_src = src * _PORTS + packets["sport"].to_numpy()
        ep_dst = dst * _PORTS + packets["dport"].to_numpy()
        del src, dst
        values = self._pair_values(ep_src, ep_dst)  # first: it may renumber the pairs (self.keys)
        pair, fresh_pairs, fresh_rows = self.keys.ids(values)
        [vlan] = self.vlans.ids(packets["vlan"])
        direction = (ep_src > ep_dst).astype(np.int64)
        self._new_pairs(fresh_pairs, vlan[fresh_rows], ep_src[fresh_rows], ep_dst[fresh_rows])
        key = pair
        other = self._other_stacks(pair, direction, vlan)
        self.seen[pair[direction == 0], 0] = True
        self.seen[pair[direction == 1], 1] = True
        if len(other):  # packets of split pairs on another stack than the pair's first: their own keys
            key = pair.copy()
            key[other], fresh_other, first_other = self.keys.ids(-1 - (pair[other] * STACKS + vlan[other]))
            self._new_pairs(fresh_other, vlan[other][first_other])  # entries for the room: never split
            fresh_rows = np.sort(np.concatenate([fresh_rows, other[first_other]]))
        return Identity(ep_src, ep_dst, key, fresh_rows, vlan)

    def _pair_values(self, ep_src: np.ndarray, ep_dst: np.ndarray) -> np.ndarray:
        """One int64 per unordered endpoint pair (the lower endpoint first)."""
        if self.dense is None and len(self.addresses.texts) * _PORTS >= _DIRECT:
            self._go_dense()
        lower, higher = np.minimum(ep_src, ep_dst), np.maximum(ep_src, ep_dst)
        if self.dense is not None:
            numbered, _, _ = self.dense.ids(np.concatenate([lower, higher]))
            lower, higher = numbered[: len(lower)], numbered[len(lower):]
        lower <<= 31
        lower |= higher
        return lower

    def _go_dense(self) -> None:
        """Too many addresses to pack two endpoints as they are: number the endpoints, and re-enter the pairs
        seen so far (in id order, so they keep their ids) in that form."""
        self.dense = GrowingIds()
        values = self.keys.values()
        pairs = values >= 0
        lower, higher = values[pairs] >> 31, values[pairs] & (_DIRECT - 1)
        numbered, _, _ = self.dense.ids(np.concatenate([lower, higher]))
        renumbered = values.copy()
        renumbered[pairs] = numbered[: len(lower)] << 31 | numbered[len(lower):]
        self.keys = GrowingIds()
        self.keys.ids(renumbered)

    def _new_pairs(self, fresh: np.ndarray, first_stack: np.ndarray, src: np.ndarray | None = None,
                   dst: np.ndarray | None = None) -> None:
        """Room for keys first seen (a split pair's other keys get entries too, never read); hinted pairs split."""
        n = self.keys.count
        self.stack = _grown(self.stack, n, -1)
        self.split, self.multi = _grown(self.split, n, False), _grown(self.multi, n, False)
        self.seen, self.dir_multi = _grown(self.seen, n, False), _grown(self.dir_multi, n, False)
        self.dir_first = _grown(self.dir_first, n, -1)
        self.stack[fresh] = first_stack
        if len(self.split_hint) and src is not None:
            lower, higher = np.minimum(src, dst), np.maximum(src, dst)
            hinted = pd.MultiIndex.from_arrays([lower, higher]).isin(
                pd.MultiIndex.from_arrays([self.split_hint[:, 0], self.split_hint[:, 1]]))
            self.split[fresh[hinted]] = True

    def _other_stacks(self, pair: np.ndarray, direction: np.ndarray, vlan: np.ndarray) -> np.ndarray:
        """Rows whose key is not their pair's: on a split pair, on another stack than the pair's first."""
        first = self.stack[pair]
        odd = np.flatnonzero(((vlan != first) | self.multi[pair]) & ~self.split[pair])
        if len(odd):  # some pairs show (or showed) a second stack: does one of their directions show two?
            self._watch(np.unique(pair[odd]), pair, direction, vlan)
        return np.flatnonzero(self.split[pair] & (vlan != first))

    def _watch(self, pairs: np.ndarray, pair: np.ndarray, direction: np.ndarray, vlan: np.ndarray) -> None:
        """Per-direction stacks of pairs that have shown two stacks (few): split the ones where a direction has."""
        newly = pairs[~self.multi[pairs]]
        self.dir_first[newly] = np.where(self.seen[newly], self.stack[newly][:, None], -1)
        self.multi[newly] = True
        before = self.dir_first[pairs].copy()
        rows = np.flatnonzero(np.isin(pair, pairs))
        seen = pd.DataFrame({"p": pair[rows], "d": direction[rows], "v": vlan[rows]}).drop_duplicates()
        earlier = pd.DataFrame({"p": np.repeat(pairs, 2), "d": np.tile([0, 1], len(pairs)), "v": before.ravel()})
        combos = pd.concat([earlier[earlier["v"] >= 0], seen]).drop_duplicates()
        per_dir = combos.groupby(["p", "d"], sort=False)["v"].agg(["size", "first"])
        index = (per_dir.index.get_level_values("p").to_numpy(), per_dir.index.get_level_values("d").to_numpy())
        self.dir_multi[index] |= per_dir["size"].to_numpy() > 1
        self.dir_first[index] = per_dir["first"].to_numpy()
        splits = pairs[self.dir_multi[pairs].any(axis=1)]
        # earlier packets of a pair now split were on two stacks (one per direction): they cannot keep one key
        mixed = (before[:, 0] >= 0) & (before[:, 1] >= 0) & (before[:, 0] != before[:, 1])
        self.hazard_pairs.append(pairs[mixed & np.isin(pairs, splits) & ~self.split[pairs]])
        self.split[splits] = True

    def hazards(self) -> np.ndarray:
        """The pairs (lower, higher endpoint) that split after their two directions had ridden different stacks."""
        if not self.hazard_pairs:
            return np.zeros((0, 2), dtype=np.int64)
        values = self.keys.values()[np.unique(np.concatenate(self.hazard_pairs))]
        lower, higher = values >> 31, values & (_DIRECT - 1)
        if self.dense is not None:
            lower, higher = self.dense.values()[lower], self.dense.values()[higher]
        return np.stack([lower, higher], axis=1)
