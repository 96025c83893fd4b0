/* The Python module analysis.pcap._native: its methods live in the other files of csrc/ (native.h). */
#include "native.h"

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "walk(buf, out, off, end, len_at, len_add, big_endian) -> (count, stop)"},
    {"walk_pcap", walk_pcap, METH_VARARGS, "walk_pcap(buf, off, end, big_endian, ns_per_tick, max_caplen, data_off, caplen, origlen, ts_ns) -> (count, stop, bad_ts, first_bad_ts): see analysis/pcap/csrc"},
    {"decode_tcp", decode_tcp, METH_VARARGS, "decode_tcp(first_frame, buf, data_off, caplen, origlen, linktype, ts_ns, iface, links, ...): see analysis/pcap/csrc"},
    {"code_addresses", code_addresses, METH_VARARGS, "code_addresses(version, src, dst, codes, first) -> count: see analysis/pcap/csrc"},
    {"bus_guard", bus_guard, METH_O, "bus_guard(buffer) -> slot: see analysis/pcap/csrc"},
    {"bus_unguard", bus_unguard, METH_O, "bus_unguard(slot) -> hits"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "The reader's per-record loops in C (see analysis/pcap/csrc/native.h).", -1, methods};

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
