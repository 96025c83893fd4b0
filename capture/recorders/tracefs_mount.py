"""A tracefs of our own, which nobody can unmount under us and which cannot outlive us.

:func:`tracefs_root` mounts tracefs on a fresh root-only directory, opens it,
and at once detaches the mount (``umount2(MNT_DETACH)``, its result checked):
from then on it is reachable only through our descriptor, as
``/proc/self/fd/N``. Nothing shows in the mount table, a run never changes
whether ``/sys/kernel/tracing`` is mounted, an ``umount`` of that by anyone
does not touch us, and the mount goes away with the descriptor, even when
the process is killed. Where mounting is not allowed (a container without
CAP_SYS_ADMIN) an already mounted tracefs is used through a descriptor in
the same way.

Instances (``instances/NAME``) are ours to create and remove; one that
belongs to a run whose process is gone (killed before it could clean up) is
removed by the next run (:func:`remove_stale_instances`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from analysis.errors import BundleError
from capture.interrupts import deferred
from capture.out_dir import make_staging
from capture.procs import is_running

SYSTEM_TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
MNT_DETACH = 2
#: instance names: abortscope-<pid of the run>-<port>[-<role>]
INSTANCE_PREFIX = "abortscope-"
_INSTANCE_NAME = re.compile(rf"^{INSTANCE_PREFIX}(\d+)-\d+(?:-\w+)?$")
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _raise_errno(what: str) -> None:
    code = ctypes.get_errno()
    raise OSError(code, f"{what}: {os.strerror(code)}")


def mount_tracefs(point: Path) -> None:
    if _libc.mount(b"nodev", os.fsencode(point), b"tracefs", 0, None) != 0:
        _raise_errno(f"mount -t tracefs on {point}")


def detach(point: Path) -> None:
    """``umount -l point``; OSError (with the kernel's reason) when it was not unmounted."""
    if _libc.umount2(os.fsencode(point), MNT_DETACH) != 0:
        _raise_errno(f"umount -l {point}")


def _open_dir(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _private_mount() -> int:
    """A descriptor of a tracefs mount that is already detached; OSError when we may not mount."""
    try:
        point = make_staging("abortscope-tracefs-")  # mount() follows the path: never under a $TMPDIR the user controls
    except BundleError as exc:  # no root-owned temp dir: as any other reason not to mount (the caller falls back)
        raise OSError(str(exc)) from exc
    try:
        with deferred():  # mounted and detached, or nothing: never a mount left behind by a Ctrl-C
            mount_tracefs(point)
            try:
                fd = _open_dir(point)
            finally:
                detach(point)
    finally:
        os.rmdir(point)
    return fd


@contextlib.contextmanager
def tracefs_root() -> Iterator[tuple[Path, str]]:
    """(tracefs root as /proc/self/fd/N, how it was reached); OSError when there is no tracefs at all."""
    try:
        fd, how = _private_mount(), "private mount (detached)"
    except OSError as mount_error:
        mounted = next((p for p in SYSTEM_TRACEFS if (p / "instances").is_dir()), None)
        if mounted is None:
            raise OSError(mount_error.errno, f"no tracefs: {mount_error.strerror}") from mount_error
        fd, how = _open_dir(mounted), f"{mounted} (already mounted; mounting another was refused: {mount_error.strerror})"
    try:
        yield Path(f"/proc/self/fd/{fd}"), how
    finally:
        os.close(fd)


def write(path: Path, value: str) -> None:
    path.write_text(value)


def remove_instance(instance: Path, attempts: int = 20) -> bool:
    """Disable every event of ``instance`` and remove it; True when it is gone."""
    with contextlib.suppress(OSError):
        write(instance / "tracing_on", "0")
        write(instance / "events" / "enable", "0")
    for _ in range(attempts):
        try:
            instance.rmdir()  # allowed with its files in it: tracefs removes them together
            return True
        except FileNotFoundError:
            return True
        except OSError:  # EBUSY while a reader still holds one of its files open
            time.sleep(0.05)
    return not instance.exists()


def remove_stale_instances(root: Path) -> list[str]:
    """Remove the instances of runs whose process is gone; their names."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in (root / "instances").iterdir():
            match = _INSTANCE_NAME.match(entry.name)
            if match and int(match.group(1)) != os.getpid() and not is_running(int(match.group(1))):
                if remove_instance(entry, attempts=1):
                    removed.append(entry.name)
    return removed
