/*
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
#include "native.h"

PyObject *walk(PyObject *self, PyObject *args)
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
PyObject *walk_pcap(PyObject *self, PyObject *args)
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
