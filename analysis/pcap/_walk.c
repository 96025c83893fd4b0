/*
 * The one sequential step of reading a capture, in C: follow record lengths.
 *
 * Each pcap record header (and each pcapng block header) says where the
 * next one starts, so finding record boundaries cannot be vectorised; in
 * Python it is a loop per record (about 0.35 s per million records). This
 * loop reads one 32-bit length per record and nothing else; every other
 * field is gathered afterwards with numpy (scan.py). walk.py holds the
 * Python version of the same loop, used when this module is not built.
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
#include <stdint.h>
#include <string.h>

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

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "walk(buf, out, off, end, len_at, len_add, big_endian) -> (count, stop)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk", "Record-length walk over a capture window.", -1, methods};

PyMODINIT_FUNC PyInit__walk(void)
{
    return PyModule_Create(&module);
}
