"""Where root puts a run's files for the invoking user, without trusting a path that user controls.

A run as root writes nothing into ``--out`` while it lasts. It works in a
*staging* directory only root can enter (:func:`make_staging`: a fresh 0700
directory in a root-owned temp dir); everything that reads the bundle as
root (the summary, the analysis, a sweep's facts) reads it there. At the end
:meth:`OutDir.publish` moves each staged file into ``--out`` through a file
descriptor of that directory, opened once before the run starts:

- a staged file is renamed (or copied, across file systems, to a new
  ``O_CREAT|O_EXCL|O_NOFOLLOW`` file then renamed) onto its bundle name:
  rename replaces a link planted there, it never follows one;
- ownership goes to the invoking user before the file leaves the staging
  directory (or on the copy's own descriptor): only what the run wrote, and
  the directories it created, change owner;
- ``--out`` must be a directory that nobody but root and the invoking user
  can write, and be new, empty or an abortscope bundle (whose files are
  replaced); anything else is refused before the run starts, unless
  ``--force``, which still replaces bundle file names only. Other files in it
  are never touched.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from analysis.errors import BundleError
from capture.users import User

#: a directory's entries -> does it hold a run of ours (then its files may be replaced)?
Claim = Callable[[int, list[str]], bool]
COPY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _strerror(exc: OSError) -> str:
    return exc.strerror or str(exc)


def is_regular(dir_fd: int, name: str) -> bool:
    """``name`` in the directory is a regular file (a link to one is not)."""
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def untrusted_writers(st: os.stat_result, owner: User) -> str | None:
    """Why users other than root and ``owner`` could write into a directory with this stat (None: they cannot)."""
    if st.st_uid not in (0, owner.uid):
        return f"it belongs to uid {st.st_uid}"
    if st.st_mode & stat.S_IWOTH:
        return "every user can write into it"
    if st.st_mode & stat.S_IWGRP and st.st_gid not in (0, owner.gid):
        return f"group {st.st_gid} can write into it"
    return None


class OutDir:
    """An output directory held open by descriptor: checked once, written only through the descriptor."""

    def __init__(self, path: Path, fd: int, owner: User, created: list[Path], found: list[str], names: Iterable[str]) -> None:
        self.path = path
        self.fd = fd
        self.owner = owner
        self.created = created  #: directories this run made (outermost first): handed over too
        self.found = set(found)  #: what the directory held when it was opened
        self.earlier = sorted(self.found & set(names))  #: files of an earlier run of ours (our names only)

    @classmethod
    def open(cls, path: Path, owner: User, *, claims: Claim, names: Iterable[str], what: str, force: bool = False) -> "OutDir":
        """Create or check ``path`` (BundleError saying why it cannot be used) and hold it open.

        ``claims`` says whether an existing, non-empty directory holds an earlier
        output of ours; ``names`` are the file names we write (the only ones ever replaced).
        """
        path = Path(path).absolute()
        created = [d for d in [path, *path.parents] if not os.path.lexists(d)][::-1]
        try:
            path.mkdir(mode=0o755, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise BundleError(f"cannot use {path} as the {what} directory: {_strerror(exc)}") from exc
        try:
            why = untrusted_writers(os.fstat(fd), owner)
            if why:
                raise BundleError(f"refusing {path} as the {what} directory: {why}, and root writes there")
            entries = os.listdir(fd)
            if entries and not (force or claims(fd, entries)):
                shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
                raise BundleError(f"refusing {path} as the {what} directory: it is not empty ({shown}) and holds no "
                                  f"abortscope {what}; choose a new or empty directory, or pass --force to write the "
                                  f"{what} files into it (other files are left alone)")  # fmt: skip
            out = cls(path, fd, owner, created, entries, names)
            out.probe_writable()
        except BaseException:
            os.close(fd)
            raise
        return out

    def probe_writable(self) -> None:
        """Create and remove a file, so an unwritable directory is said before anything starts."""
        name = f".abortscope-probe-{secrets.token_hex(6)}"
        try:
            os.close(os.open(name, COPY_FLAGS, 0o600, dir_fd=self.fd))
            os.unlink(name, dir_fd=self.fd)
        except OSError as exc:
            raise BundleError(f"cannot write into {self.path}: {_strerror(exc)}") from exc

    def publish(self, source: Path, name: str) -> None:
        """Move the staged ``source`` onto ``name`` (owned by the user); OSError when the directory refuses."""
        if not self.owner.is_current and os.geteuid() == 0:
            os.chown(source, self.owner.uid, self.owner.gid, follow_symlinks=False)  # still in the private stage
        try:
            os.rename(source, name, dst_dir_fd=self.fd)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        temporary = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temporary, COPY_FLAGS, 0o644, dir_fd=self.fd)
        try:
            with open(source, "rb") as src, os.fdopen(fd, "wb", closefd=False) as dst:
                shutil.copyfileobj(src, dst)
            self._give(fd)
        finally:
            os.close(fd)
        os.rename(temporary, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        os.unlink(source)

    def remove(self, names: Iterable[str]) -> None:
        """Remove these names (files or links, never directories) if present."""
        for name in names:
            try:
                os.unlink(name, dir_fd=self.fd)
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                continue

    def _give(self, fd: int) -> None:
        if not self.owner.is_current and os.geteuid() == 0:
            os.fchown(fd, self.owner.uid, self.owner.gid)

    def hand_over_created(self) -> list[str]:
        """chown the directories this run created (never any it found); the paths that failed."""
        return [problem for directory in self.created if (problem := self._give_dir(directory))]

    def hand_over_new_subdirs(self) -> list[str]:
        """chown the directories that appeared in here since it was opened and that root made (ours, e.g. a
        sweep's rows); never one that was there before, never through a link. The paths that failed."""
        new = sorted(set(os.listdir(self.fd)) - self.found)
        return [problem for name in new if (problem := self._give_dir(name, dir_fd=self.fd, only_roots=True))]

    def _give_dir(self, directory: Path | str, dir_fd: int | None = None, only_roots: bool = False) -> str | None:
        if self.owner.is_current or os.geteuid() != 0:
            return None
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            return None if only_roots else f"{directory}: {_strerror(exc)}"
        try:
            if not only_roots or os.fstat(fd).st_uid == 0:
                self._give(fd)
        except OSError as exc:
            return f"{directory}: {_strerror(exc)}"
        finally:
            os.close(fd)
        return None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _trusted_temp_root() -> Path:
    """A temp directory only root controls (root-owned; sticky, or writable by root alone)."""
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if st.st_uid == 0 and (st.st_mode & stat.S_ISVTX or not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            return Path(candidate)
    raise BundleError("no root-owned temporary directory (tried $TMPDIR, /tmp, /var/tmp) to record the run in")


def make_staging(prefix: str = "abortscope-run-") -> Path:
    """A new directory (0700) where a run records before publishing; only its creator can enter it."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_trusted_temp_root()))
