/*
 * The reader's per-record loops in C: the record-length walks, the
 * link/IP/TCP header decoding and the numbering of addresses (plus a guard
 * for mapped windows, 4). Each has a Python/numpy twin that stays the
 * reference (walk.py's walk_python and walk_pcap_python, decode.py's numpy
 * decoder, addresses.py's code_addresses_numpy); the tests hold this module
 * to them on the corpus and on fuzzed captures. Each loop is one call per
 * window with the GIL released: the reader runs on a thread beside the
 * imports (ahead.py), and every return to Python waits for the GIL.
 *
 * 1. walk: follow record lengths.
 *
 * Each pcap record header (and each pcapng block header) says where the
 * next one starts, so finding record boundaries cannot be vectorised; in
 * Python it is a loop per record (about 0.35 s per million records). This
 * loop reads one 32-bit length per record and nothing else; pcapng's other
 * fields are gathered afterwards with numpy (scan.py), classic pcap's are
 * read on the way by walk_pcap (1b). walk.py holds the Python versions of
 * both loops, used when this module is not built.
 *
 *   walk(buf, out, off, end, len_at, len_add, big_endian) -> (count, stop)
 *
 * From `off`, while the 4-byte length at off + len_at lies before `end`:
 * next = off + len_add + length; stop when next <= off or next > end (the
 * record is not whole in buf[:end], or the length is damaged), else store
 * off in out (an int64 buffer) and continue from next. Returns how many
 * offsets were stored and the offset where the walk stopped. Stops early
 * when out is full.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint32_t read_u32(const unsigned char *p, int big_endian)
{
    if (big_endian)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | (uint32_t)p[0];
}

static PyObject *walk(PyObject *self, PyObject *args)
{
    PyObject *buf_obj, *out_obj;
    Py_ssize_t off, end, len_at, len_add;
    int big_endian;
    if (!PyArg_ParseTuple(args, "OOnnnnp", &buf_obj, &out_obj, &off, &end, &len_at, &len_add, &big_endian))
        return NULL;
    Py_buffer buf, out;
    if (PyObject_GetBuffer(buf_obj, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    if (end > buf.len)
        end = buf.len;
    if (off < 0 || len_at < 0 || len_add < 0) {
        PyBuffer_Release(&out);
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "walk: negative offset");
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)buf.buf;
    int64_t *offsets = (int64_t *)out.buf;
    Py_ssize_t capacity = out.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t count = 0;

    Py_BEGIN_ALLOW_THREADS
    while (count < capacity && off + len_at + 4 <= end) {
        Py_ssize_t next = off + len_add + (Py_ssize_t)read_u32(data + off + len_at, big_endian);
        if (next <= off || next > end)
            break;
        offsets[count++] = (int64_t)off;
        off = next;
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&out);
    PyBuffer_Release(&buf);
    return Py_BuildValue("nn", count, off);
}


/*
 * 1b. walk_pcap: walk's loop for classic pcap, reading the record header's
 * fields on the way (one pass, one call per window: the reader runs on a
 * thread beside imports, and every return to Python waits for the GIL).
 *
 *   walk_pcap(buf, off, end, big_endian, ns_per_tick, max_caplen, data_off, caplen, origlen, ts_ns)
 *       -> (count, stop, bad_ts, first_bad_ts)
 *
 * A pcap record is a 16-byte header (ts_sec, ts_frac, caplen, origlen) and
 * caplen bytes. From `off`, records are taken while they lie whole in
 * buf[:end] and caplen <= max_caplen (a bigger one is damage: the walk stops
 * on it, and the caller says so). Per record: data_off = where its bytes
 * start, caplen, origlen, ts_ns = ts_sec * 1e9 + ts_frac * ns_per_tick (all
 * int64 buffers, with room for (end - off) / 16 + 1 records). bad_ts counts
 * the records whose fraction is a second or more; first_bad_ts is the first
 * one's index (-1: none). walk.py's walk_pcap_python is the reference.
 */
static PyObject *walk_pcap(PyObject *self, PyObject *args)
{
    PyObject *objects[5];
    Py_ssize_t off, end;
    int big_endian;
    long long ns_per_tick, max_caplen;
    if (!PyArg_ParseTuple(args, "OnnpLLOOOO", &objects[0], &off, &end, &big_endian, &ns_per_tick, &max_caplen,
                          &objects[1], &objects[2], &objects[3], &objects[4]))
        return NULL;
    Py_buffer views[5];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 5; got++)
        if (PyObject_GetBuffer(objects[got], &views[got], got ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
            goto done;
    if (end > views[0].len)
        end = views[0].len;
    if (off < 0) {
        PyErr_SetString(PyExc_ValueError, "walk_pcap: negative offset");
        goto done;
    }
    Py_ssize_t capacity = views[1].len / 8;
    for (int k = 2; k < 5; k++)
        if (views[k].len / 8 < capacity)
            capacity = views[k].len / 8;
    const unsigned char *data = views[0].buf;
    int64_t *data_off = views[1].buf, *caplen = views[2].buf, *origlen = views[3].buf, *ts_ns = views[4].buf;
    Py_ssize_t count = 0, bad_ts = 0, first_bad_ts = -1;

    Py_BEGIN_ALLOW_THREADS
    while (count < capacity && off + 16 <= end) {
        const unsigned char *h = data + off;
        int64_t cap = read_u32(h + 8, big_endian);
        if (cap > max_caplen || off + 16 + cap > end)
            break;
        int64_t ticks = (int64_t)read_u32(h + 4, big_endian) * ns_per_tick;
        if (ticks >= 1000000000) {
            if (first_bad_ts < 0)
                first_bad_ts = count;
            bad_ts++;
        }
        data_off[count] = off + 16;
        caplen[count] = cap;
        origlen[count] = read_u32(h + 12, big_endian);
        ts_ns[count] = (int64_t)read_u32(h, big_endian) * 1000000000 + ticks;
        count++;
        off += 16 + cap;
    }
    Py_END_ALLOW_THREADS

    result = Py_BuildValue("nnnn", count, off, bad_ts, first_bad_ts);
done:
    while (got-- > 0)
        PyBuffer_Release(&views[got]);
    return result;
}

/*
 * 2. decode_tcp: decode.py's rules, one record at a time (see decode.py for
 * the rules and their RFCs; the link types come from linktypes.py as rows of
 * (linktype, header_len, selector, proto_at), selector codes in decode.py).
 *
 *   decode_tcp(first_frame, buf, data_off, caplen, origlen, linktype, ts_ns, iface, links,
 *              version, vlan_key, src, dst, sport, dport, flags, seq, ack, len, win, truncated,
 *              frame, ts_out, iface_out) -> (rows, cut, unsupported, vlan_deep, ipv6_ext_deep, tcp_bad_header)
 *
 * Inputs are int64 arrays (linktype and iface int32), one entry per record
 * (the first record is frame first_frame). The outputs have room for one
 * row per record and are filled from the start, TCP rows only: the row's
 * frame number, its record's ts_ns and iface, and the decoded fields.
 * Returns how many rows there are, how many TCP segments had their header
 * cut by the snaplen, how many records have an unsupported link type, and
 * how many records lie beyond the documented limits (decode.py's
 * BEYOND_LIMITS, in its order): more than MAX_VLAN_DEPTH VLAN tags, more
 * than MAX_IPV6_EXT IPv6 extension headers, a TCP header length below 20
 * or past the IP payload. Every other record is not TCP. (All of it in one
 * call: the reader runs on a thread, and each return to Python waits for
 * the GIL.)
 */
enum { SEL_ETHERTYPE, SEL_AF_HOST, SEL_AF_BIG, SEL_IP_VERSION, SEL_IPV4_ONLY, SEL_IPV6_ONLY };
enum { ST_NOT_TCP, ST_CUT, ST_UNSUPPORTED, ST_VLAN_DEEP, ST_IPV6_EXT_DEEP, ST_TCP_BAD_HEADER, N_STATUS };
#define MAX_VLAN_DEPTH 4
#define MAX_IPV6_EXT 8
#define VLAN_BITS 12

static inline int64_t u16be(const unsigned char *p) { return ((int64_t)p[0] << 8) | p[1]; }
static inline int64_t u32be(const unsigned char *p) { return (int64_t)read_u32(p, 1); }
static inline int is_vlan(int64_t ethertype) { return ethertype == 0x8100 || ethertype == 0x88A8 || ethertype == 0x9100; }

typedef struct { int32_t linktype, header_len, selector, proto_at; } link_spec;

typedef struct {
    int8_t *version; int64_t *vlan_key; uint8_t *src, *dst; int32_t *sport, *dport, *flags, *win;
    int64_t *seq, *ack, *len; uint8_t *truncated; int64_t *frame, *ts_ns; int32_t *iface;
    Py_ssize_t counts[N_STATUS];  /* records that are no row, by why */
} outputs;

/* The link layer: IP version (0: not IP; -1: more VLAN tags than MAX_VLAN_DEPTH) and where the IP header starts. */
static int link_layer(const unsigned char *d, int64_t off, int64_t end, const link_spec *spec, int64_t *l3, int64_t *vlan_key)
{
    *l3 = off + spec->header_len;
    *vlan_key = 0;
    if (end < off + spec->header_len)
        return 0;
    switch (spec->selector) {
    case SEL_ETHERTYPE: {
        int64_t ethertype = u16be(d + off + spec->proto_at);
        int depth = 0;
        for (; depth < MAX_VLAN_DEPTH && is_vlan(ethertype) && *l3 + 4 <= end; depth++) {
            *vlan_key += 1 + ((u16be(d + *l3) & 0xFFF) << (4 + VLAN_BITS * depth));
            ethertype = u16be(d + *l3 + 2);
            *l3 += 4;
        }
        if (depth == MAX_VLAN_DEPTH && is_vlan(ethertype))
            return -1;
        return ethertype == 0x0800 ? 4 : ethertype == 0x86DD ? 6 : 0;
    }
    case SEL_AF_HOST:
    case SEL_AF_BIG: {
        int64_t family = read_u32(d + off, spec->selector == SEL_AF_BIG);
        if (family & 0xFFFF0000)  /* written in the other byte order */
            family = read_u32(d + off, spec->selector != SEL_AF_BIG);
        if (family == 2 || family == 0x0800)
            return 4;
        if (family == 24 || family == 28 || family == 30 || family == 0x86DD)
            return 6;
        return 0;
    }
    default: {
        int nibble = end > off ? d[off] >> 4 : 0;
        if (spec->selector == SEL_IPV4_ONLY)
            return nibble == 4 ? 4 : 0;
        if (spec->selector == SEL_IPV6_ONLY)
            return nibble == 6 ? 6 : 0;
        return nibble == 4 || nibble == 6 ? nibble : 0;
    }
    }
}

/* IPv4 or IPv6 up to the TCP header: 1 when the packet carries TCP there, with its position and IP payload length;
   2 when an IPv6 header chain is longer than MAX_IPV6_EXT; else 0. */
static int ip_layer(const unsigned char *d, int version, int64_t l3, int64_t end, int64_t wire_after,
                    uint8_t *src, uint8_t *dst, int64_t *tcp_at, int64_t *payload)
{
    if (version == 4) {
        if (l3 + 20 > end)
            return 0;
        const unsigned char *h = d + l3;
        int64_t ihl = (int64_t)(h[0] & 0x0F) * 4;
        int64_t total_field = u16be(h + 2);
        int64_t total = total_field == 0 ? wire_after : (total_field < wire_after ? total_field : wire_after);
        int64_t frag_offset = ((int64_t)(h[6] & 0x1F) << 8) | h[7];
        if ((h[0] >> 4) != 4 || ihl < 20 || l3 + ihl > end || total < ihl)
            return 0;
        if (h[9] != 6 || frag_offset != 0 || (h[6] & 0x20))
            return 0;
        memcpy(src, h + 12, 4);  /* IPv4 in the first 4 of 16 bytes; the rest zero (the slot may hold an earlier try) */
        memset(src + 4, 0, 12);
        memcpy(dst, h + 16, 4);
        memset(dst + 4, 0, 12);
        *tcp_at = l3 + ihl;
        *payload = total - ihl;
        return 1;
    }
    if (l3 + 40 > end)
        return 0;
    const unsigned char *h = d + l3;
    int64_t plen = u16be(h + 4);
    *payload = plen == 0 ? wire_after - 40 : (plen < wire_after - 40 ? plen : wire_after - 40);
    if ((h[0] >> 4) != 6)
        return 0;
    int64_t nh = h[6], pos = l3 + 40;
    for (int i = 0; i <= MAX_IPV6_EXT; i++) {
        int generic = nh == 0 || nh == 43 || nh == 60 || nh == 51, fragment = nh == 44;
        if (!generic && !fragment)
            break;
        if (i == MAX_IPV6_EXT)
            return 2;
        if ((generic && pos + 2 > end) || (fragment && pos + 8 > end))
            return 0;
        int64_t ext_len;
        if (fragment) {
            int64_t frag_word = u16be(d + pos + 2);
            if ((frag_word >> 3) != 0 || (frag_word & 1) != 0)
                return 0;
            ext_len = 8;
        } else {
            ext_len = nh == 51 ? ((int64_t)d[pos + 1] + 2) * 4 : ((int64_t)d[pos + 1] + 1) * 8;
        }
        nh = d[pos];
        pos += ext_len;
        *payload -= ext_len;
    }
    if (nh != 6 || *payload < 0)
        return 0;
    memcpy(src, h + 8, 16);
    memcpy(dst, h + 24, 16);
    *tcp_at = pos;
    return 1;
}

/* A record's TCP fields go to output row k (rows are packed): 1 if written, else 0 and the reason counted. */
static int decode_record(const unsigned char *d, int64_t off, int64_t caplen, int64_t origlen, const link_spec *spec,
                         outputs *o, Py_ssize_t k)
{
    int64_t end = off + caplen, l3, vlan_key, tcp_at = 0, payload = 0;
    uint8_t *src = o->src + 16 * k, *dst = o->dst + 16 * k;
    int version = link_layer(d, off, end, spec, &l3, &vlan_key);
    if (version < 0) {
        o->counts[ST_VLAN_DEEP]++;
        return 0;
    }
    int64_t wire_after = (origlen > caplen ? origlen : caplen) - (l3 - off);
    int ip = version ? ip_layer(d, version, l3, end, wire_after, src, dst, &tcp_at, &payload) : 0;
    if (ip != 1) {
        o->counts[ip == 2 ? ST_IPV6_EXT_DEEP : ST_NOT_TCP]++;
        return 0;
    }
    if (tcp_at + 20 > end) {
        o->counts[ST_CUT]++;
        return 0;
    }
    const unsigned char *t = d + tcp_at;
    int64_t header = (int64_t)(t[12] >> 4) * 4;
    if (header < 20 || header > payload) {
        o->counts[ST_TCP_BAD_HEADER]++;
        return 0;
    }
    o->version[k] = (int8_t)version;
    o->vlan_key[k] = vlan_key;
    o->sport[k] = (int32_t)u16be(t);
    o->dport[k] = (int32_t)u16be(t + 2);
    o->seq[k] = u32be(t + 4);
    o->ack[k] = u32be(t + 8);
    o->flags[k] = ((int32_t)(t[12] & 0x0F) << 8) | t[13];
    o->win[k] = (int32_t)u16be(t + 14);
    o->len[k] = payload - header;
    o->truncated[k] = end < tcp_at + payload;
    return 1;
}

/* decode_tcp's buffers after first_frame, in order: bytes per record (0: any length), and whether written */
static const struct { Py_ssize_t itemsize; int output; } decode_buffers[] = {
    {0, 0}, {8, 0}, {8, 0}, {8, 0}, {4, 0}, {8, 0}, {4, 0}, {0, 0},  /* buf, data_off, caplen, origlen, linktype, ts_ns, iface, links */
    {1, 1}, {8, 1}, {16, 1}, {16, 1}, {4, 1}, {4, 1}, {4, 1}, {8, 1}, {8, 1}, {8, 1}, {4, 1}, {1, 1},  /* version .. truncated */
    {8, 1}, {8, 1}, {4, 1},  /* frame, ts_out, iface_out */
};
#define N_DECODE_BUFFERS ((Py_ssize_t)(sizeof decode_buffers / sizeof decode_buffers[0]))

static PyObject *decode_tcp(PyObject *self, PyObject *args)
{
    if (PyTuple_GET_SIZE(args) != N_DECODE_BUFFERS + 1) {
        PyErr_Format(PyExc_TypeError, "decode_tcp takes %zd arguments", N_DECODE_BUFFERS + 1);
        return NULL;
    }
    long long first_frame = PyLong_AsLongLong(PyTuple_GET_ITEM(args, 0));
    if (first_frame == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer views[N_DECODE_BUFFERS];
    int got = 0;
    PyObject *result = NULL;
    for (; got < N_DECODE_BUFFERS; got++)
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(args, got + 1), &views[got],
                               decode_buffers[got].output ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
            goto done;
    Py_ssize_t n = views[1].len / 8, n_links = views[7].len / (Py_ssize_t)sizeof(link_spec);
    for (int k = 1; k < N_DECODE_BUFFERS; k++)
        if (decode_buffers[k].itemsize && views[k].len != n * decode_buffers[k].itemsize) {
            PyErr_Format(PyExc_ValueError, "decode_tcp: argument %d has %zd bytes, expected %zd", k + 1, views[k].len,
                         n * decode_buffers[k].itemsize);
            goto done;
        }
    const unsigned char *d = views[0].buf;
    const int64_t *data_off = views[1].buf, *caplen = views[2].buf, *origlen = views[3].buf, *ts_ns = views[5].buf;
    const int32_t *linktype = views[4].buf, *iface = views[6].buf;
    const link_spec *links = views[7].buf;
    outputs o = {views[8].buf, views[9].buf, views[10].buf, views[11].buf, views[12].buf, views[13].buf, views[14].buf,
                 views[18].buf, views[15].buf, views[16].buf, views[17].buf, views[19].buf, views[20].buf, views[21].buf,
                 views[22].buf, {0}};
    Py_ssize_t buf_len = views[0].len;
    int bad = 0;
    Py_ssize_t rows = 0;
    Py_BEGIN_ALLOW_THREADS
    const link_spec *spec = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (data_off[i] < 0 || caplen[i] < 0 || data_off[i] + caplen[i] > buf_len) {
            bad = 1;  /* a record outside the buffer: the caller's bug, never read past it */
            break;
        }
        if (spec == NULL || spec->linktype != linktype[i]) {
            spec = NULL;
            for (Py_ssize_t k = 0; k < n_links; k++)
                if (links[k].linktype == linktype[i])
                    spec = &links[k];
        }
        if (spec == NULL) {
            o.counts[ST_UNSUPPORTED]++;
            continue;
        }
        if (decode_record(d, data_off[i], caplen[i], origlen[i], spec, &o, rows)) {
            o.frame[rows] = first_frame + i;
            o.ts_ns[rows] = ts_ns[i];
            o.iface[rows] = iface[i];
            rows++;
        }
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "decode_tcp: a record lies outside the buffer");
        goto done;
    }
    result = Py_BuildValue("nnnnnn", rows, o.counts[ST_CUT], o.counts[ST_UNSUPPORTED], o.counts[ST_VLAN_DEEP],
                           o.counts[ST_IPV6_EXT_DEEP], o.counts[ST_TCP_BAD_HEADER]);
done:
    while (got-- > 0)
        PyBuffer_Release(&views[got]);
    return result;
}

/*
 * 3. code_addresses: number the distinct addresses of a batch.
 *
 *   code_addresses(version, src, dst, codes, first) -> count
 *
 * version: int8 per row; src, dst: 16 bytes per row (IPv4 in the first 4);
 * an address is (version, 16 bytes), so an IPv4 address never meets an
 * IPv6 one with the same bytes. codes (int32, 2n) gets a code per src row
 * then per dst row, numbered in order of first appearance (what
 * pandas.factorize gives); first (int64, 2n) gets, for each code, the
 * position (src rows 0..n-1, dst rows n..2n-1) where it first appears.
 * Returns the number of distinct addresses. The few distinct ones are then
 * turned into text once each in Python (addresses.py's AddressBook).
 */
typedef struct { uint64_t hi, lo; int64_t version, code; } address_slot;

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

/* Where (hi, lo, v) is in the table, or the empty slot where it goes (linear probing). */
static inline uint64_t address_slot_of(const address_slot *table, uint64_t mask, uint64_t hi, uint64_t lo, int64_t v)
{
    uint64_t at = mix64(hi ^ mix64(lo ^ (uint64_t)v)) & mask;
    while (table[at].code >= 0 && !(table[at].hi == hi && table[at].lo == lo && table[at].version == v))
        at = (at + 1) & mask;
    return at;
}

/* The table at twice the size, its entries moved over (the old one freed); NULL when out of memory (the old one kept). */
static address_slot *grow_address_table(address_slot *table, Py_ssize_t capacity)
{
    address_slot *bigger = PyMem_RawMalloc(2 * (size_t)capacity * sizeof(address_slot));
    if (bigger == NULL)
        return NULL;
    uint64_t mask = 2 * (uint64_t)capacity - 1;
    for (Py_ssize_t s = 0; s < 2 * capacity; s++)
        bigger[s].code = -1;
    for (Py_ssize_t s = 0; s < capacity; s++)
        if (table[s].code >= 0)
            bigger[address_slot_of(bigger, mask, table[s].hi, table[s].lo, table[s].version)] = table[s];
    PyMem_RawFree(table);
    return bigger;
}

static PyObject *code_addresses(PyObject *self, PyObject *args)
{
    PyObject *objects[5];
    static const Py_ssize_t itemsize[5] = {1, 16, 16, 8, 16};  /* bytes per row; codes and first hold two entries a row */
    if (!PyArg_UnpackTuple(args, "code_addresses", 5, 5, &objects[0], &objects[1], &objects[2], &objects[3], &objects[4]))
        return NULL;
    Py_buffer views[5];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 5; got++)
        if (PyObject_GetBuffer(objects[got], &views[got], got >= 3 ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
            goto done;
    Py_ssize_t n = views[0].len;
    for (int k = 1; k < 5; k++)
        if (views[k].len != n * itemsize[k]) {
            PyErr_Format(PyExc_ValueError, "code_addresses: argument %d has %zd bytes for %zd rows", k, views[k].len, n);
            goto done;
        }
    /* A batch holds few distinct addresses: the table starts small (it stays in cache, and there is no
       big table to clear per batch) and doubles whenever it would be more than half full. */
    Py_ssize_t capacity = 64;
    address_slot *table = PyMem_RawMalloc((size_t)capacity * sizeof(address_slot));
    if (table == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const int8_t *version = views[0].buf;
    const uint8_t *sides[2] = {views[1].buf, views[2].buf};
    int32_t *codes = views[3].buf;
    int64_t *first = views[4].buf;
    int64_t count = 0;
    int out_of_memory = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t s = 0; s < capacity; s++)
        table[s].code = -1;
    uint64_t mask = (uint64_t)capacity - 1;
    for (int side = 0; side < 2 && !out_of_memory; side++)
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t hi, lo;
            memcpy(&hi, sides[side] + 16 * i, 8);
            memcpy(&lo, sides[side] + 16 * i + 8, 8);
            int64_t v = version[i];
            uint64_t at = address_slot_of(table, mask, hi, lo, v);
            if (table[at].code < 0) {
                if (2 * (count + 1) > capacity) {
                    address_slot *bigger = grow_address_table(table, capacity);
                    if (bigger == NULL) {
                        out_of_memory = 1;
                        break;
                    }
                    table = bigger;
                    capacity *= 2;
                    mask = (uint64_t)capacity - 1;
                    at = address_slot_of(table, mask, hi, lo, v);
                }
                table[at].hi = hi;
                table[at].lo = lo;
                table[at].version = v;
                table[at].code = count;
                first[count++] = side * n + i;
            }
            codes[side * n + i] = (int32_t)table[at].code;
        }
    Py_END_ALLOW_THREADS
    if (out_of_memory) {
        PyMem_RawFree(table);
        PyErr_NoMemory();
        goto done;
    }
    PyMem_RawFree(table);
    result = PyLong_FromLongLong(count);
done:
    while (got-- > 0)
        PyBuffer_Release(&views[got]);
    return result;
}

/*
 * 4. bus_guard / bus_unguard: survive a file that shrinks under a mapped window.
 *
 * window.py maps the capture a window at a time (mmap) instead of copying
 * it. If another program truncates the file meanwhile (a tcpdump -W ring
 * wrapping onto it), touching a mapped page past the new end raises SIGBUS,
 * which would kill the process. While a window is guarded, a SIGBUS inside
 * it puts a zero page over the missing one instead and counts the hit; the
 * reader then sees the file shrank (window.py) and stops with a warning,
 * keeping what it read before. A SIGBUS anywhere else goes to the handler
 * that was there before (the default, or faulthandler's).
 *
 *   bus_guard(buffer) -> slot      bus_unguard(slot) -> hits
 */
#define GUARD_SLOTS 64

typedef struct { _Atomic uintptr_t start, end; atomic_int hits; } guarded_range;

static guarded_range guarded[GUARD_SLOTS];
static struct sigaction bus_before;
static int bus_handler_installed;

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    uintptr_t at = (uintptr_t)info->si_addr;
    uintptr_t page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int k = 0; k < GUARD_SLOTS; k++) {
        uintptr_t start = atomic_load(&guarded[k].start), end = atomic_load(&guarded[k].end);
        if (start <= at && at < end) {
            void *page = (void *)(at & ~(page_size - 1));
            if (mmap(page, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
                atomic_fetch_add(&guarded[k].hits, 1);
                return;  /* the access is retried, and reads zeros */
            }
        }
    }
    sigaction(SIGBUS, &bus_before, NULL);  /* not ours: returning re-raises it under the previous handler */
}

static PyObject *bus_guard(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    uintptr_t start = (uintptr_t)view.buf, end = start + (uintptr_t)view.len;
    PyBuffer_Release(&view);  /* the caller keeps the mapping alive until bus_unguard */
    if (!bus_handler_installed) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_sigaction = on_sigbus;
        action.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&action.sa_mask);
        if (sigaction(SIGBUS, &action, &bus_before) < 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        bus_handler_installed = 1;
    }
    for (int k = 0; k < GUARD_SLOTS; k++) {
        uintptr_t free_slot = 0;
        if (atomic_compare_exchange_strong(&guarded[k].start, &free_slot, start)) {
            atomic_store(&guarded[k].hits, 0);
            atomic_store(&guarded[k].end, end);
            return PyLong_FromLong(k);
        }
    }
    PyErr_SetString(PyExc_RuntimeError, "bus_guard: every slot is taken (windows not unguarded?)");
    return NULL;
}

static PyObject *bus_unguard(PyObject *self, PyObject *arg)
{
    long k = PyLong_AsLong(arg);
    if (k == -1 && PyErr_Occurred())
        return NULL;
    if (k < 0 || k >= GUARD_SLOTS) {
        PyErr_SetString(PyExc_ValueError, "bus_unguard: no such slot");
        return NULL;
    }
    int hits = atomic_load(&guarded[k].hits);
    atomic_store(&guarded[k].end, 0);
    atomic_store(&guarded[k].start, 0);
    return PyLong_FromLong(hits);
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "walk(buf, out, off, end, len_at, len_add, big_endian) -> (count, stop)"},
    {"walk_pcap", walk_pcap, METH_VARARGS, "walk_pcap(buf, off, end, big_endian, ns_per_tick, max_caplen, data_off, caplen, origlen, ts_ns) -> (count, stop, bad_ts, first_bad_ts): see _native.c"},
    {"decode_tcp", decode_tcp, METH_VARARGS, "decode_tcp(first_frame, buf, data_off, caplen, origlen, linktype, ts_ns, iface, links, ...): see _native.c"},
    {"code_addresses", code_addresses, METH_VARARGS, "code_addresses(version, src, dst, codes, first) -> count: see _native.c"},
    {"bus_guard", bus_guard, METH_O, "bus_guard(buffer) -> slot: see _native.c"},
    {"bus_unguard", bus_unguard, METH_O, "bus_unguard(slot) -> hits"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "The reader's per-record loops in C (see _native.c).", -1, methods};

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m = PyModule_Create(&module);
    /* the limits compiled in, for the tests to compare with linktypes.py and decode.py */
    if (m && (PyModule_AddIntConstant(m, "MAX_VLAN_DEPTH", MAX_VLAN_DEPTH) < 0 ||
              PyModule_AddIntConstant(m, "MAX_IPV6_EXT", MAX_IPV6_EXT) < 0 ||
              PyModule_AddIntConstant(m, "VLAN_BITS", VLAN_BITS) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
