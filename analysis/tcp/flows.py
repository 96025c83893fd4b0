"""Packet table -> connections: ids, client/server roles, relative seq/ack, byte counts.

Rules (applied to whole columns; no per-packet Python):

1. **Same connection** = same unordered pair of endpoints (ip, port). VLAN
   stacks split a pair only when one *direction* of that pair shows several
   stacks: the same 4-tuple seen untagged, on VLAN 42 and on QinQ 10/20 is
   three connections (zeek vlan-collisions), while one connection whose two
   directions ride different VLANs (c->s on 81, s->c on 80) stays one.
   Interfaces (pcapng IDB) never split a pair.
2. **Reuse**: a SYN without ACK starts a new connection on the same key when
   an earlier packet of that key had FIN or RST since the previous SYN and
   the new SYN's sequence number differs from that SYN's (a retransmitted
   SYN, same ISN, stays in its connection; tshark does the same).
3. **Roles**: the client is the sender of the first SYN (no ACK); failing
   that, the receiver of the first SYN-ACK. With neither, it is a guess
   (``role_guessed``): the server is the side on a well-known port (< 1024),
   else the lower port, else the first receiver.
4. **Relative numbers**: seq is relative to the sender's ISN (its SYN = 0),
   ack to the peer's ISN; raw when that side's SYN was not captured (the
   schema's contract). Arithmetic is modulo 2**32; a transfer of more than
   4 GiB in one direction wraps (documented limit).
5. **Ids**: ``client_ip:port>server_ip:port`` (IPv6 in brackets). When
   several connections share that text (VLAN split, reused 4-tuple), the
   later ones get ``#2``, ``#3``... in order of their first packet.

The flows table has one row per connection, indexed by ``conn`` (0..n-1, in
order of first packet); :func:`analysis.tcp.facts.add_facts` and
:mod:`analysis.tcp.history` add further columns.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd

from analysis.tcp import flags as F

SEQ_MOD = 1 << 32
WELL_KNOWN_PORT_LIMIT = 1024


def endpoint_text(ip: str, port: int) -> str:
    """`ip:port`, IPv6 in brackets; v4-mapped IPv6 (::ffff:a.b.c.d) written as IPv4."""
    ip = normalise_ip(ip)
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def normalise_ip(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return ip
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def flow_id(client: str, server: str) -> str:
    return f"{client}>{server}"


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


def assign_connections(packets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Annotate packets with ``conn``, ``from_client``, ``seq``, ``ack``, ``kind``; return (packets, flows).

    ``packets`` is a packet table (analysis.pcap.table.PACKET_COLUMNS). The
    returned packet frame is sorted by frame and keeps every input column.
    """
    frames = packets["frame"].to_numpy()
    if len(frames) > 1 and not (np.diff(frames) > 0).all():
        packets = packets.sort_values("frame", kind="stable")
    pk = packets.reset_index(drop=True) if not isinstance(packets.index, pd.RangeIndex) or packets.index.start != 0 \
        else packets.copy(deep=False)
    n = len(pk)
    flags = pk["flags"].to_numpy(np.int64)
    length = pk["len"].to_numpy(np.int64)
    seq_raw = pk["seq_raw"].to_numpy(np.int64)
    ack_raw = pk["ack_raw"].to_numpy(np.int64)

    # -- endpoints as small integers -------------------------------------------------
    addr_codes, addrs = _factorize_text(pk["src"], pk["dst"])
    bound = (len(addrs) + 1) * 65536
    key_type = np.int32 if bound < np.iinfo(np.int32).max else np.int64  # half the memory on a million rows
    keys = addr_codes.astype(key_type)  # endpoint key: address code * 65536 + port; src rows, then dst rows
    del addr_codes
    keys *= 65536
    keys[:n] += pk["sport"].to_numpy()
    keys[n:] += pk["dport"].to_numpy()
    ep_codes, ep_values = _factorize_small(keys, bound)
    del keys
    ep_src, ep_dst = ep_codes[:n], ep_codes[n:]  # views: ep_codes lives on through them
    n_ep = max(len(ep_values), 1)
    lo = np.minimum(ep_src, ep_dst).astype(np.int64)
    pair = lo * n_ep
    pair += np.maximum(ep_src, ep_dst)
    direction = (ep_src == lo).astype(np.int8)
    del lo  # big: recomputed for the first packets only (below)

    # -- VLAN split (rule 1) -----------------------------------------------------------
    vlan_codes, _ = _factorize_text(pk["vlan"] if _plain_categorical(pk["vlan"]) else pk["vlan"].fillna(""))
    vlan_codes = vlan_codes.astype(np.int64)
    pair_codes, _ = pd.factorize(pair)
    pair_codes = pair_codes.astype(np.int64)
    split_pairs = np.zeros(pair_codes.max() + 1 if n else 0, dtype=bool)
    if n and vlan_codes.max() > 0:  # untagged captures (the usual case) skip this
        stacks = pd.DataFrame({"p": pair_codes, "d": direction, "v": vlan_codes})
        per_dir = stacks.drop_duplicates().groupby(["p", "d"], sort=False).size()
        split_pairs[per_dir[per_dir > 1].index.get_level_values("p").to_numpy()] = True
    if split_pairs.any():
        key = pair_codes * (vlan_codes.max() + 1) + np.where(split_pairs[pair_codes], vlan_codes, 0)
        key = pd.factorize(key)[0].astype(np.int64)
    else:
        key = pair_codes
    del pair, direction, vlan_codes, pair_codes

    # -- reuse after close (rule 2) ----------------------------------------------------
    pure_syn = ((flags & F.SYN) != 0) & ((flags & F.ACK) == 0)
    closing = (flags & (F.FIN | F.RST)) != 0
    n_keys = int(key.max()) + 1 if n else 0
    first_in_key = np.zeros(n, dtype=bool)
    first_in_key[first_rows(key, None, n_keys)] = True
    # only keys with a SYN after their first packet can hold a second connection; the rest skip the group work
    suspects = np.zeros(n_keys, dtype=bool)
    suspects[key[pure_syn & ~first_in_key]] = True
    conn = key  # factorize numbered the keys by first packet already
    if suspects.any():
        rows = np.flatnonzero(suspects[key])
        segment = np.zeros(n, dtype=np.int64)
        segment[rows] = _segments(key[rows], closing[rows], pure_syn[rows], seq_raw[rows], first_in_key[rows])
        if segment.any():
            conn = pd.factorize(key * (segment.max() + 1) + segment)[0].astype(np.int64)
        del rows, segment
    del key, closing, first_in_key
    n_conn = int(conn.max()) + 1 if n else 0

    # -- roles (rule 3) --------------------------------------------------------------
    synack = ((flags & (F.SYN | F.ACK)) == (F.SYN | F.ACK))
    syn_client = _group_first(conn, ep_src, pure_syn, n_conn, -1)
    synack_client = _group_first(conn, ep_dst, synack, n_conn, -1)
    first_src = _group_first(conn, ep_src, np.ones(n, bool), n_conn, -1)
    first_dst = _group_first(conn, ep_dst, np.ones(n, bool), n_conn, -1)
    ep_port = (ep_values.astype(np.int64) % 65536) if len(ep_values) else np.zeros(0, np.int64)
    src_port_first, dst_port_first = ep_port[first_src], ep_port[first_dst]
    # guess: the server is the side on a well-known port, else the lower port, else the first receiver
    src_wk = src_port_first < WELL_KNOWN_PORT_LIMIT
    dst_wk = dst_port_first < WELL_KNOWN_PORT_LIMIT
    server_is_src = np.where(src_wk != dst_wk, src_wk, src_port_first < dst_port_first)
    guessed_client = np.where(server_is_src, first_dst, first_src)
    role_guessed = (syn_client < 0) & (synack_client < 0)
    client_ep = np.where(syn_client >= 0, syn_client, np.where(synack_client >= 0, synack_client, guessed_client))
    from_client = ep_src == client_ep[conn]

    # -- relative numbers (rule 4) ---------------------------------------------------
    side = conn * 2 + (~from_client).astype(np.int64)  # 2c: client->server, 2c+1: server->client
    has_syn = (flags & F.SYN) != 0
    isn = _group_first(side, seq_raw, has_syn, 2 * n_conn, -1)
    del has_syn, pure_syn, synack
    own_isn = isn[side]
    peer_isn = isn[side ^ 1]
    del side
    seq_rel = np.where(own_isn >= 0, (seq_raw - own_isn) % SEQ_MOD, seq_raw)
    del own_isn
    ack_rel = np.where(peer_isn >= 0, (ack_raw - peer_isn) % SEQ_MOD, ack_raw)
    del peer_isn
    has_ack = (flags & F.ACK) != 0

    pk["conn"] = conn
    pk["from_client"] = from_client
    pk["seq"] = seq_rel
    pk["ack"] = pd.arrays.IntegerArray(np.where(has_ack, ack_rel, 0).astype(np.int64, copy=False), ~has_ack)
    del ack_rel, seq_rel
    pk["kind"] = F.packet_kinds(flags, length)

    # -- flows table ------------------------------------------------------------------
    ep_text = _endpoint_texts(ep_values, addrs)
    first_idx = _first_rows(conn, n_conn)
    lo_first = np.minimum(ep_src[first_idx], ep_dst[first_idx])
    hi_first = np.maximum(ep_src[first_idx], ep_dst[first_idx])
    server_ep = np.where(lo_first == client_ep, hi_first, lo_first)
    last_idx = _last_rows(conn, n_conn)
    client_text = ep_text[client_ep] if n_conn else np.array([], object)
    server_text = ep_text[server_ep] if n_conn else np.array([], object)
    c2s = from_client
    counts = np.bincount(conn, minlength=n_conn)
    ts = pk["ts_ns"].to_numpy(np.int64)
    flows = pd.DataFrame({
        "conn": np.arange(n_conn),
        "flow": pd.array(_unique_ids(pd.Series([c + ">" + s for c, s in zip(client_text.tolist(), server_text.tolist())],
                                               dtype=object)), dtype="string"),
        "client": pd.array(client_text, dtype="string"),
        "server": pd.array(server_text, dtype="string"),
        "role_guessed": role_guessed,
        "ip_version": pk["ip_version"].to_numpy()[first_idx] if n_conn else np.array([], np.int8),
        "vlan": pk["vlan"].take(first_idx).to_numpy(object) if n_conn else np.array([], object),
        "packets": counts,
        "packets_c2s": np.bincount(conn[c2s], minlength=n_conn),
        "packets_s2c": np.bincount(conn[~c2s], minlength=n_conn),
        "bytes_c2s": np.bincount(conn[c2s], weights=length[c2s], minlength=n_conn).astype(np.int64),
        "bytes_s2c": np.bincount(conn[~c2s], weights=length[~c2s], minlength=n_conn).astype(np.int64),
        "first_frame": pk["frame"].to_numpy()[first_idx] if n_conn else np.array([], np.int64),
        "last_frame": pk["frame"].to_numpy()[last_idx] if n_conn else np.array([], np.int64),
        "first_ts_ns": ts[first_idx] if n_conn else np.array([], np.int64),
        "last_ts_ns": ts[last_idx] if n_conn else np.array([], np.int64),
        "client_isn": isn[0::2] if n_conn else np.array([], np.int64),
        "server_isn": isn[1::2] if n_conn else np.array([], np.int64),
    })
    flows["duration_s"] = (flows["last_ts_ns"] - flows["first_ts_ns"]) / 1e9
    flows["vlan"] = flows["vlan"].astype("string")
    return pk, flows


def _segments(key: np.ndarray, closing: np.ndarray, pure_syn: np.ndarray, seq_raw: np.ndarray,
              first_in_key: np.ndarray) -> np.ndarray:
    """Rule 2 on the rows of the suspect keys: the connection number (0, 1, ...) of each row within its key.

    Works on the rows grouped by key (one stable sort, so each key's rows stay
    in row order): a SYN reopens when its key had a FIN or RST since the key's
    previous SYN (or since the start, for the first) and its ISN differs from that SYN's.
    """
    order = np.argsort(key, kind="stable")
    k = key[order]
    closing_sorted = closing[order].astype(np.int64)
    group_start = _group_starts(k)
    closing_before = _grouped_cumsum(closing_sorted, group_start) - closing_sorted
    syn_at = np.flatnonzero(pure_syn[order])  # grouped, and in row order within each key
    syn_key, syn_seq, syn_cc = k[syn_at], seq_raw[order][syn_at], closing_before[syn_at]
    has_prev = np.zeros(len(syn_at), dtype=bool)
    has_prev[1:] = syn_key[1:] == syn_key[:-1]
    prev_cc = np.zeros(len(syn_at), dtype=np.int64)
    prev_cc[1:] = syn_cc[:-1]
    prev_cc[~has_prev] = 0
    prev_seq = np.zeros(len(syn_at), dtype=np.int64)
    prev_seq[1:] = syn_seq[:-1]
    reopen = (syn_cc > prev_cc) & (~has_prev | (syn_seq != prev_seq))
    starts = np.zeros(len(key), dtype=np.int64)
    starts[syn_at] = reopen & ~first_in_key[order][syn_at]
    segment = np.empty(len(key), dtype=np.int64)
    segment[order] = _grouped_cumsum(starts, group_start)
    return segment


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Per row of a key-sorted array: the index of the first row of its key."""
    n = len(sorted_keys)
    is_start = np.ones(n, dtype=bool)
    if n > 1:
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=is_start[1:])
    if not n:
        return np.zeros(0, np.int64)
    starts = np.arange(n)
    starts[~is_start] = 0
    return np.maximum.accumulate(starts, out=starts)


def _grouped_cumsum(values: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Inclusive running sum within each group of a key-sorted array."""
    total = np.cumsum(values)
    before = total[group_start]
    before -= values[group_start]
    total -= before
    return total


def _nth_in_group(codes: np.ndarray) -> np.ndarray:
    """1 for the first row of each code, 2 for the second... (row order)."""
    order = np.argsort(codes, kind="stable")
    group_start = _group_starts(codes[order])
    nth = np.empty(len(codes), dtype=np.int64)
    nth[order] = np.arange(len(codes)) - group_start + 1
    return nth


def _unique_ids(ids: pd.Series) -> np.ndarray:
    """Suffix ``#2``, ``#3``... to later connections that share an id (VLAN split, reused 4-tuple)."""
    if ids.is_unique:  # the usual case: nothing to number
        return ids.to_numpy(object)
    nth = _nth_in_group(pd.factorize(ids)[0])
    return np.where(nth == 1, ids.to_numpy(object), ids.to_numpy(object) + "#" + nth.astype(str).astype(object))


def _factorize_text(*columns: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for string columns (concatenated), and the unique values (pandas hashes Arrow strings fast)."""
    if all(_plain_categorical(c) for c in columns) and all(c.cat.categories.equals(columns[0].cat.categories) for c in columns):
        # the fast reader's lean table: the codes are there already (numbering does not matter to the callers,
        # which only compare codes for equality and map them back to these values)
        codes = np.concatenate([c.cat.codes.to_numpy() for c in columns])  # small ints (int8 for a few values)
        return codes, np.asarray(columns[0].cat.categories, dtype=object)
    joined = pd.concat([c.astype("string").reset_index(drop=True) for c in columns], ignore_index=True)
    codes, uniques = pd.factorize(joined)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _plain_categorical(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.CategoricalDtype) and not column.hasnans


#: _factorize_small uses a dense table up to this many possible values (int32 each: 64 MiB).
_DENSE_LIMIT = 1 << 24


def _factorize_small(values: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """pd.factorize (codes in order of first appearance) for non-negative ints below ``bound``.

    With few addresses the endpoint keys (address code * 65536 + port) fit a
    dense table, which avoids hashing two million keys.
    """
    if bound > _DENSE_LIMIT or len(values) >= np.iinfo(np.int32).max:
        codes, uniques = pd.factorize(values)
        return codes, uniques
    none = np.iinfo(np.int32).max
    first = np.full(bound, none, dtype=np.int32)
    np.minimum.at(first, values, np.arange(len(values), dtype=np.int32))
    seen = np.flatnonzero(first != none)
    uniques = seen[np.argsort(first[seen], kind="stable")]
    code_of = np.empty(bound, dtype=np.int32 if len(uniques) < np.iinfo(np.int32).max else np.int64)
    code_of[uniques] = np.arange(len(uniques))
    return code_of[values], uniques.astype(values.dtype, copy=False)


def _first_rows(conn: np.ndarray, n_conn: int) -> np.ndarray:
    return first_rows(conn, None, n_conn)


def _last_rows(conn: np.ndarray, n_conn: int) -> np.ndarray:
    return last_rows(conn, n_conn)


def _endpoint_texts(ep_values: np.ndarray, addrs: np.ndarray) -> np.ndarray:
    """`ip:port` text of every endpoint code; addresses normalised once each (few), ports joined vectorised."""
    ep_values = np.asarray(ep_values, dtype=np.int64)
    if len(ep_values) == 0:
        return np.array([], dtype=object)
    hosts = np.array([_host_text(str(a)) for a in addrs], dtype=object)
    return (pd.Series(hosts[ep_values // 65536], dtype=object) + ":" + pd.Series(ep_values % 65536).astype(str)).to_numpy(object)


def _host_text(ip: str) -> str:
    ip = normalise_ip(ip)
    return f"[{ip}]" if ":" in ip else ip
