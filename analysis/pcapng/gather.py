"""Write many pieces of memory to a file in few system calls: writev(2), with the pieces given as arrays.

A file made of a million packets is two million pieces: each packet's bytes where the input's window
holds them, and the few bytes the writer puts around them (analysis.pcapng.blocks.GLUE). Made into a
million Python objects they cost a second; here they stay numpy arrays (which buffer, where in it, how
long), become an iovec array, and libc's writev is called through ctypes, IOV_MAX pieces a call, with
the GIL released while the kernel copies. Nothing is copied in user space.

Where libc's writev cannot be found (not Linux), :func:`write_with_os` does the same with ``os.writev``
and memoryview slices: slower, and the reference the tests hold the fast path to.
"""

from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass, field

import numpy as np

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _writev = _libc.writev
    _writev.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
    _writev.restype = ctypes.c_ssize_t
except (OSError, AttributeError):  # no libc to call
    _writev = None

#: The most pieces one writev takes (Linux: 1024).
IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") and os.sysconf("SC_IOV_MAX") > 0 else 1024
#: True when writev is called directly (ctypes).
NATIVE = _writev is not None


@dataclass
class Pieces:
    """What to write, in order: ``which`` buffer, from ``start``, ``length`` bytes (int64 arrays)."""

    buffers: list = field(default_factory=list)  # anything with the buffer protocol (bytes, numpy, mmap views)
    which: list[np.ndarray] = field(default_factory=list)
    start: list[np.ndarray] = field(default_factory=list)
    length: list[np.ndarray] = field(default_factory=list)

    def buffer(self, buf) -> int:
        """Register ``buf``; its index for :meth:`add`."""
        self.buffers.append(buf)
        return len(self.buffers) - 1

    def add(self, which, start, length) -> None:
        """Append pieces (scalars or arrays of equal length)."""
        start = np.atleast_1d(np.asarray(start, dtype=np.int64))
        self.which.append(np.broadcast_to(np.asarray(which, dtype=np.int64), start.shape))
        self.start.append(start)
        self.length.append(np.broadcast_to(np.asarray(length, dtype=np.int64), start.shape))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(which, start, length), zero-length pieces left out."""
        if not self.start:
            return (np.zeros(0, np.int64),) * 3
        which, start, length = (np.concatenate(parts) for parts in (self.which, self.start, self.length))
        keep = length > 0
        return which[keep], start[keep], length[keep]

    @property
    def nbytes(self) -> int:
        return int(sum(int(part.sum()) for part in self.length))


def write(fd: int, pieces: Pieces) -> int:
    """Write ``pieces`` to ``fd`` in order; the bytes written."""
    return (write_native if NATIVE else write_with_os)(fd, pieces)


def write_native(fd: int, pieces: Pieces) -> int:
    which, start, length = pieces.arrays()
    views = [np.frombuffer(buf, dtype=np.uint8) for buf in pieces.buffers]  # held until the writes are done
    base = np.array([view.ctypes.data for view in views], dtype=np.uint64)
    iov = np.empty((len(start), 2), dtype=np.uint64)  # struct iovec {void *iov_base; size_t iov_len;}
    iov[:, 0] = base[which] + start.astype(np.uint64)
    iov[:, 1] = length
    done, first = 0, 0
    while first < len(iov):
        count = min(IOV_MAX, len(iov) - first)
        written = _writev(fd, iov.ctypes.data + first * iov.itemsize * 2, count)
        if written < 0:
            code = ctypes.get_errno()
            if code == errno.EINTR:
                continue
            raise OSError(code, os.strerror(code))
        if written == 0:  # nothing taken and no error: it would never end
            raise OSError(errno.EIO, "writev wrote nothing")
        done += written
        first = _advance(iov, first, count, written)
    del views
    return done


def _advance(iov: np.ndarray, first: int, count: int, written: int) -> int:
    """The first piece not wholly written after ``written`` bytes from piece ``first``; a piece written in
    part is shortened to its rest."""
    ends = np.cumsum(iov[first : first + count, 1])
    whole = int(np.searchsorted(ends, written, side="right"))
    if whole < count:
        into = written - (int(ends[whole - 1]) if whole else 0)
        iov[first + whole, 0] += np.uint64(into)
        iov[first + whole, 1] -= np.uint64(into)
    return first + whole


def write_with_os(fd: int, pieces: Pieces) -> int:
    """:func:`write` with os.writev and a memoryview per piece (no ctypes)."""
    which, start, length = pieces.arrays()
    views = [memoryview(buf).cast("B") for buf in pieces.buffers]
    slices = [views[w][s : s + n] for w, s, n in zip(which.tolist(), start.tolist(), length.tolist())]
    done = 0
    for first in range(0, len(slices), IOV_MAX):
        batch = slices[first : first + IOV_MAX]
        written = os.writev(fd, batch)
        done += written
        expected = sum(len(piece) for piece in batch)
        if written < expected:  # a short write: the rest, a piece at a time
            rest = b"".join(bytes(piece) for piece in batch)[written:]
            while rest:
                n = os.write(fd, rest)
                done, rest = done + n, rest[n:]
    return done
