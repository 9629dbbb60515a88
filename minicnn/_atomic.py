"""Write a file all or nothing: nothing a crash or an error leaves behind is half a file.

The bytes go into a hidden temporary file beside the target, ``.<name>.<random>.part``, which
is renamed onto the target once complete. A writer killed mid-write (kill -9, a power cut)
leaves its temporary file behind; the next ``atomic_write`` of the same target deletes it.

Which temporary files are orphans? A writer holds an exclusive ``flock`` on its file from
creation to rename, and the kernel drops the lock when the process ends, however it ends. So
a temporary file that can be locked has no live writer and is deleted; one that cannot is a
save still in progress (in another process or thread) and is kept. A PID in the name would not
do: a reused PID looks alive, a writer on another machine sharing the folder looks dead (its
file would be deleted mid-save), and ``os.kill(pid, 0)`` terminates the process on Windows.
Where ``flock`` does not exist (Windows) or the file system refuses it, nothing is locked and
nothing is deleted.
"""

import errno
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


@contextmanager
def atomic_write(path, mode: str = "wb", encoding: str | None = None):
    """Yield a file open on a hidden temporary name beside ``path``; rename it onto ``path``.

    On leaving the block normally the file is flushed to disk, renamed onto ``path`` with
    ``os.replace`` (atomic within one file system, hence the same folder) and the folder is
    flushed too, so that the rename survives a power cut. If the block raises, the temporary
    file is deleted and ``path`` is left as it was. The temporary files of earlier writes of
    ``path`` that were killed are deleted first (see the module docstring). The file gets the
    usual permissions (those ``open`` gives under the umask).

        with atomic_write("history.json", "w", encoding="utf-8") as f:
            f.write(text)
    """
    path = Path(path)
    _remove_orphans(path)
    temporary, file = _create_locked_temporary(path, mode, encoding)
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it visible
            if fcntl is not None:  # renamed while locked, so no other writer takes it for an orphan
                os.replace(temporary, path)
        if fcntl is None:  # Windows cannot rename an open file
            os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _create_locked_temporary(path: Path, mode: str, encoding: str | None):
    """(name, open file) of a new temporary file beside ``path``, locked if locks exist."""
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        file = open(temporary, mode.replace("w", "x"), encoding=encoding)
        _try_lock(file.fileno(), blocking=True)  # waits only while another writer deletes it
        if _still_named(file.fileno(), temporary):
            return temporary, file
        file.close()  # taken for an orphan between open() and the lock: take another name


def _remove_orphans(path: Path) -> None:
    """Delete the temporary files of ``path`` that no live writer holds locked."""
    if fcntl is None:
        return
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.part")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return  # the folder is missing or unreadable: creating the file will say so
    for name in filter(pattern.fullmatch, names):
        candidate = path.parent / name
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue  # deleted meanwhile, or not ours to read
        try:
            if _try_lock(fd, blocking=False) and _still_named(fd, candidate):
                candidate.unlink()
        except OSError:
            pass  # cleaning up is a courtesy: it never makes the save fail
        finally:
            os.close(fd)


def _try_lock(fd: int, blocking: bool) -> bool:
    """Lock ``fd`` exclusively; False if another process holds it or there are no locks."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except OSError:  # BlockingIOError if held; ENOLCK etc. where the file system has no locks
        return False


def _still_named(fd: int, name: Path) -> bool:
    """Whether ``name`` is still the file open as ``fd`` (not deleted or replaced meanwhile)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(name))
    except FileNotFoundError:
        return False


def _fsync_folder(folder: Path) -> None:
    """Flush the folder's entries to disk: the rename is only durable once they are."""
    if os.name != "posix":  # Windows cannot open a folder as a file
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP):  # some file systems cannot
            raise
    finally:
        os.close(fd)
