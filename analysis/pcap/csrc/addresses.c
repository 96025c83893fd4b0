#include "native.h"

#include <stdlib.h>
#include <string.h>

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

PyObject *code_addresses(PyObject *self, PyObject *args)
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
