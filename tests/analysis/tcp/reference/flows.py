"""Rules 1-5 of analysis.tcp.flows on the whole packet table at once (the code before streaming)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.tcp import flags as F
from analysis.tcp.flows import SEQ_MOD, WELL_KNOWN_PORT_LIMIT, connection_texts, group_starts as _group_starts
from analysis.tcp.flows import nth_in_group as _nth_in_group, stable_order


def first_rows(keys: np.ndarray, mask: np.ndarray | None, n_keys: int) -> np.ndarray:
    """Row index of the first row (row order) per key 0..n_keys-1 where mask holds; -1 where none. Linear time."""
    rows = np.arange(len(keys)) if mask is None else np.flatnonzero(mask)
    out = np.full(n_keys, len(keys), dtype=np.int64)
    np.minimum.at(out, keys[rows], rows)
    out[out == len(keys)] = -1
    return out


def last_rows(keys: np.ndarray, n_keys: int) -> np.ndarray:
    out = np.full(n_keys, -1, dtype=np.int64)
    np.maximum.at(out, keys, np.arange(len(keys)))
    return out


def _group_first(keys: np.ndarray, values: np.ndarray, mask: np.ndarray, n: int, fill) -> np.ndarray:
    """For each key 0..n-1, ``values`` at the first row (in row order) where mask holds; ``fill`` where none."""
    rows = first_rows(keys, mask, n)
    out = np.full(n, fill, dtype=values.dtype)
    found = rows >= 0
    out[found] = values[rows[found]]
    return out


class _Endpoints:
    """What an endpoint id stands for: ``address code * 65536 + port``, or (many addresses) an index into ``values`` of those."""

    def __init__(self, addresses: np.ndarray, count: int, values: np.ndarray | None):
        self.addresses = addresses  # address code -> address text
        self.count = count  # endpoint ids are 0..count-1
        self.values = values  # None: the ids are the values

    def value(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(ids if self.values is None else self.values[ids], dtype=np.int64)

    def port(self, ids: np.ndarray) -> np.ndarray:
        return self.value(ids) % 65536


#: pair = lower endpoint id * id count + higher id must fit in int64 (below about 46,000 addresses as address * 65536 + port)


_PAIR_LIMIT = 3_000_000_000


def _endpoints(pk: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, _Endpoints]:
    """Endpoint ids of the sender and the receiver of every packet."""
    n = len(pk)
    (src_codes, dst_codes), addresses = _factorize_text(pk["src"], pk["dst"])
    count = (len(addresses) + 1) * 65536
    id_type = np.int32 if count <= np.iinfo(np.int32).max else np.int64  # half the memory on a million rows
    ep = []
    for codes, port in ((src_codes, pk["sport"]), (dst_codes, pk["dport"])):
        ids = codes.astype(id_type)
        ids *= 65536
        ids += port.to_numpy()
        ep.append(ids)
    if count <= _PAIR_LIMIT:
        return ep[0], ep[1], _Endpoints(addresses, count, None)
    codes, values = pd.factorize(np.concatenate(ep))  # number the endpoints seen instead
    return codes[:n], codes[n:], _Endpoints(addresses, max(len(values), 1), values)


def _connection_texts(client: np.ndarray, server: np.ndarray, addresses: np.ndarray) -> tuple[pd.array, pd.array, pd.array]:
    """flow, client and server texts; later connections with the same text numbered #2, #3... (whole table)."""
    flow, _, _ = connection_texts(client, server, np.ones(len(client), dtype=np.int64), addresses)
    return connection_texts(client, server, _nth_in_group(pd.factorize(flow)[0]), addresses)


def _factorize_text(*columns: pd.Series) -> tuple[list[np.ndarray], np.ndarray]:
    """Integer codes for string columns (one array per column, one numbering), and the unique values."""
    if all(_plain_categorical(c) for c in columns) and all(c.cat.categories.equals(columns[0].cat.categories) for c in columns):
        # the fast reader's lean table: the codes are there already (numbering does not matter to the callers,
        # which only compare codes for equality and map them back to these values)
        codes = [c.cat.codes.to_numpy() for c in columns]  # small ints (int8 for a few values)
        return codes, np.asarray(columns[0].cat.categories, dtype=object)
    joined = pd.concat([c.astype("string").reset_index(drop=True) for c in columns], ignore_index=True)
    codes, uniques = pd.factorize(joined)  # pandas hashes Arrow strings fast
    bounds = np.cumsum([0] + [len(c) for c in columns])
    return [codes[a:b] for a, b in zip(bounds[:-1], bounds[1:])], np.asarray(uniques, dtype=object)


def _plain_categorical(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.CategoricalDtype) and not column.hasnans


def assign_connections(packets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Annotate packets with ``conn``, ``from_client``, ``seq``, ``ack``, ``kind``; return (packets, flows).

    ``packets`` is a packet table (analysis.pcap.table.PACKET_COLUMNS). The
    returned packet frame is sorted by frame and keeps every input column.
    """
    frames = packets["frame"].to_numpy()
    if len(frames) > 1 and not (frames[1:] > frames[:-1]).all():
        packets = packets.sort_values("frame", kind="stable")
    pk = packets.reset_index(drop=True) if not isinstance(packets.index, pd.RangeIndex) or packets.index.start != 0 \
        else packets.copy(deep=False)
    flags = pk["flags"].to_numpy()  # only bit tests: no widening copy
    seq_raw = pk["seq_raw"].to_numpy(np.int64)

    # -- same connection (rule 1) ------------------------------------------------------
    ep_src, ep_dst, endpoints = _endpoints(pk)
    pair = np.minimum(ep_src, ep_dst).astype(np.int64)
    pair *= endpoints.count
    pair += np.maximum(ep_src, ep_dst)
    key = pd.factorize(pair)[0]  # numbered in order of first packet
    del pair
    key = _split_by_vlan(pk["vlan"], key, ep_src <= ep_dst)

    # -- reuse after close (rule 2) ----------------------------------------------------
    pure_syn = (flags & (F.SYN | F.ACK)) == F.SYN
    conn, conn_first = _split_reused(key, pure_syn, (flags & (F.FIN | F.RST)) != 0, seq_raw)
    del key
    n_conn = len(conn_first)

    # -- roles (rule 3) --------------------------------------------------------------
    syn_client = _group_first(conn, ep_src, pure_syn, n_conn, -1)
    synack_client = _group_first(conn, ep_dst, (flags & (F.SYN | F.ACK)) == (F.SYN | F.ACK), n_conn, -1)
    del pure_syn
    first_src, first_dst = ep_src[conn_first], ep_dst[conn_first]
    src_port_first, dst_port_first = endpoints.port(first_src), endpoints.port(first_dst)
    # guess: the server is the side on a well-known port, else the lower port, else the first receiver
    src_wk = src_port_first < WELL_KNOWN_PORT_LIMIT
    dst_wk = dst_port_first < WELL_KNOWN_PORT_LIMIT
    server_is_src = np.where(src_wk != dst_wk, src_wk, src_port_first < dst_port_first)
    guessed_client = np.where(server_is_src, first_dst, first_src)
    role_guessed = (syn_client < 0) & (synack_client < 0)
    client_ep = np.where(syn_client >= 0, syn_client, np.where(synack_client >= 0, synack_client, guessed_client))
    server_ep = np.where(first_src == client_ep, first_dst, first_src)
    from_client = ep_src == client_ep[conn]
    del ep_src, ep_dst

    # -- relative numbers (rule 4) ---------------------------------------------------
    side = conn * 2  # 2c: client->server, 2c+1: server->client
    side += ~from_client
    isn = _group_first(side, seq_raw, (flags & F.SYN) != 0, 2 * n_conn, -1)
    # modulo 2**32 as a mask: the same as % SEQ_MOD for negative differences too (two's complement)
    own_isn = isn[side]
    seq_rel = seq_raw - own_isn
    seq_rel &= SEQ_MOD - 1
    np.copyto(seq_rel, seq_raw, where=own_isn < 0)  # raw when the sender's SYN was not captured
    del own_isn
    peer_isn = isn[side ^ 1]
    ack_rel = pk["ack_raw"].to_numpy(np.int64) - peer_isn
    ack_rel &= SEQ_MOD - 1
    np.copyto(ack_rel, pk["ack_raw"].to_numpy(np.int64), where=peer_isn < 0)
    del peer_isn
    no_ack = (flags & F.ACK) == 0
    ack_rel[no_ack] = 0  # <NA> below: the value under the mask is 0, as pandas fills it

    length = pk["len"].to_numpy(np.int64)
    # set as Series: pandas keeps a Series' array, where it would copy a bare one (8 MB a column on a million rows)
    for name, values in (("conn", conn), ("from_client", from_client), ("seq", seq_rel),
                         ("ack", pd.arrays.IntegerArray(ack_rel, no_ack)), ("kind", F.packet_kinds(flags, length))):
        pk[name] = pd.Series(values, index=pk.index, copy=False)
    del seq_rel, ack_rel, no_ack

    # -- flows table ------------------------------------------------------------------
    last_idx = last_rows(conn, n_conn)
    packets_per_side = np.bincount(side, minlength=2 * n_conn)
    bytes_per_side = np.bincount(side, weights=length, minlength=2 * n_conn).astype(np.int64)  # exact below 2**53
    del side
    flow, client_text, server_text = _connection_texts(endpoints.value(client_ep), endpoints.value(server_ep),
                                                       endpoints.addresses)
    ts = pk["ts_ns"].to_numpy(np.int64)
    frame = pk["frame"].to_numpy()
    flows = pd.DataFrame({
        "conn": np.arange(n_conn),
        "flow": flow,
        "client": client_text,
        "server": server_text,
        "role_guessed": role_guessed,
        "ip_version": pk["ip_version"].to_numpy()[conn_first],
        "vlan": pk["vlan"].take(conn_first).to_numpy(object),
        "packets": packets_per_side[0::2] + packets_per_side[1::2],
        "packets_client": packets_per_side[0::2],
        "packets_server": packets_per_side[1::2],
        "bytes_client": bytes_per_side[0::2],
        "bytes_server": bytes_per_side[1::2],
        "first_frame": frame[conn_first].astype(np.int64),
        "last_frame": frame[last_idx].astype(np.int64),
        "first_ts_ns": ts[conn_first],
        "last_ts_ns": ts[last_idx],
        "duration_s": (ts[last_idx] - ts[conn_first]) / 1e9,
        "isn_client": pd.arrays.IntegerArray(isn[0::2], isn[0::2] < 0),
        "isn_server": pd.arrays.IntegerArray(isn[1::2], isn[1::2] < 0),
    })
    flows["vlan"] = flows["vlan"].astype("string")
    return pk, flows


def _split_by_vlan(vlan: pd.Series, pair_key: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Rule 1's VLAN split: pairs one of whose directions shows several VLAN stacks get one key per stack."""
    (vlan_codes,), _ = _factorize_text(vlan if _plain_categorical(vlan) else vlan.fillna(""))
    if not len(vlan_codes) or vlan_codes.min() == vlan_codes.max():  # one stack (untagged, the usual case): no split
        return pair_key
    vlan_codes = vlan_codes.astype(np.int64)
    split_pairs = np.zeros(pair_key.max() + 1, dtype=bool)
    stacks = pd.DataFrame({"p": pair_key, "d": direction, "v": vlan_codes})
    per_dir = stacks.drop_duplicates().groupby(["p", "d"], sort=False).size()
    split_pairs[per_dir[per_dir > 1].index.get_level_values("p").to_numpy()] = True
    if not split_pairs.any():
        return pair_key
    return pd.factorize(pair_key * (vlan_codes.max() + 1) + np.where(split_pairs[pair_key], vlan_codes, 0))[0]


def _split_reused(key: np.ndarray, pure_syn: np.ndarray, closing: np.ndarray,
                  seq_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rule 2: (connection number of every row, first row of every connection) from keys numbered by first packet.

    Connections are numbered in order of their first packet, like the keys.
    """
    n_keys = int(key.max()) + 1 if len(key) else 0
    key_first = first_rows(key, None, n_keys)  # ascending: keys are numbered by first packet
    is_first = np.zeros(len(key), dtype=bool)
    is_first[key_first] = True
    later_syns = np.flatnonzero(pure_syn & ~is_first)
    if not len(later_syns):  # only a SYN after a key's first packet can start a second connection
        return key, key_first
    reopens = _reopening_syns(key, n_keys, later_syns, pure_syn, closing, seq_raw, is_first)
    if not len(reopens):
        return key, key_first
    is_first[reopens] = True
    conn_first = np.flatnonzero(is_first)  # connection c starts at row conn_first[c]
    # grouped by key (row order within a key), a key's rows run through its connections one after the other,
    # each starting at its first row: a running count of first rows gives every row its connection
    order = stable_order(key, n_keys)
    first_in_order = is_first[order]
    segment = np.cumsum(first_in_order, dtype=np.int64)
    segment -= 1
    conn_of_first_row = np.cumsum(is_first, dtype=np.int64)  # at a first row: its connection + 1 (row order)
    conn_of_segment = conn_of_first_row[order[first_in_order]] - 1
    del conn_of_first_row
    conn = np.empty(len(key), dtype=np.int64)
    conn[order] = conn_of_segment[segment]
    return conn, conn_first


def _reopening_syns(key: np.ndarray, n_keys: int, later_syns: np.ndarray, pure_syn: np.ndarray,
                    closing: np.ndarray, seq_raw: np.ndarray, is_first: np.ndarray) -> np.ndarray:
    """Rows of the SYNs that start a new connection on their key (rule 2).

    A SYN reopens when its key had a FIN or RST since the key's previous SYN
    (or since its first packet, for the first SYN) and its ISN differs from
    that SYN's. Only SYNs and FIN/RST packets matter, and only on keys with
    a SYN after their first packet: those rows are grouped by key (row order
    within a key) and compared with the previous SYN of their key.
    """
    suspect = np.zeros(n_keys, dtype=bool)
    suspect[key[later_syns]] = True
    events = np.flatnonzero((pure_syn | closing) & suspect[key])
    events = events[stable_order(key[events], n_keys)]
    event_key = key[events]
    event_closes = closing[events]
    closes_before = np.cumsum(event_closes, dtype=np.int64)  # FIN/RST packets before each event, in its key
    closes_before -= event_closes
    closes_before -= closes_before[_group_starts(event_key)]
    at_syn = pure_syn[events]
    syn_rows, syn_key, syn_closes = events[at_syn], event_key[at_syn], closes_before[at_syn]
    syn_isn = seq_raw[syn_rows]
    after_syn_of_key = np.zeros(len(syn_rows), dtype=bool)  # the previous SYN in this order is of the same key
    after_syn_of_key[1:] = syn_key[1:] == syn_key[:-1]
    closed_since = syn_closes.copy()
    closed_since[1:] -= np.where(after_syn_of_key[1:], syn_closes[:-1], 0)
    new_isn = np.ones(len(syn_rows), dtype=bool)
    new_isn[1:] = syn_isn[1:] != syn_isn[:-1]
    reopen = (closed_since > 0) & (~after_syn_of_key | new_isn)
    reopen &= ~is_first[syn_rows]  # a key's first packet starts its first connection anyway
    return syn_rows[reopen]
