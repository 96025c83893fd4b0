#include "native.h"

#include <string.h>

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

PyObject *decode_tcp(PyObject *self, PyObject *args)
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
