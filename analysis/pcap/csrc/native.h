/*
 * The reader's C part (analysis.pcap._native): one file per job, this header shared.
 *
 *   walk.c       1. the record-length walks (walk, walk_pcap)
 *   decode.c     2. link/IP/TCP header decoding (decode_tcp)
 *   addresses.c  3. numbering the distinct addresses of a batch (code_addresses)
 *   bus_guard.c  4. surviving a file that shrinks under a mapped window (bus_guard, bus_unguard)
 *   module.c     the Python module: the method table and the limits compiled in
 *
 * Each loop has a Python/numpy twin that stays the reference (walk.py's
 * walk_python and walk_pcap_python, decode.py's numpy decoder, addresses.py's
 * code_addresses_numpy); the tests hold this module to them on the corpus and
 * on fuzzed captures. Each loop is one call per window with the GIL released:
 * the reader runs on a thread beside the imports (ahead.py), and every return
 * to Python waits for the GIL.
 */
#ifndef ABORTSCOPE_NATIVE_H
#define ABORTSCOPE_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* decode.py's documented limits (the tests compare them with linktypes.py and decode.py) */
#define MAX_VLAN_DEPTH 4
#define MAX_IPV6_EXT 8
#define VLAN_BITS 12

static inline uint32_t read_u32(const unsigned char *p, int big_endian)
{
    if (big_endian)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | (uint32_t)p[0];
}

PyObject *walk(PyObject *self, PyObject *args);
PyObject *walk_pcap(PyObject *self, PyObject *args);
PyObject *decode_tcp(PyObject *self, PyObject *args);
PyObject *code_addresses(PyObject *self, PyObject *args);
PyObject *bus_guard(PyObject *self, PyObject *arg);
PyObject *bus_unguard(PyObject *self, PyObject *arg);

#endif
