#include "native.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

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

PyObject *bus_guard(PyObject *self, PyObject *arg)
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

PyObject *bus_unguard(PyObject *self, PyObject *arg)
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
