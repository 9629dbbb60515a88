"""The four ways loading a dataset can fail, each with its own exception class.

All four subclass a built-in exception, so ``except ValueError`` / ``except OSError`` keep
working; the message always names the file or folder, what was expected and what came.

The classes keep apart what a user must not confuse: a *damaged* file (delete it, download it
again) and a file that could not be *written* (the disk is full, the folder is not yours: the
files already there are fine, and deleting them would lose good data).
"""

import errno
import os
from pathlib import Path


class DatasetFileError(ValueError):
    """A dataset file exists but is not what it should be: corrupt, truncated or the wrong kind."""


class DatasetNotFoundError(FileNotFoundError):
    """Dataset files are missing and downloading was not allowed (``download=False``)."""


class DownloadError(OSError):
    """No mirror delivered a file with the right checksum (no network, 404s, bad copies).

    ``attempts`` lists ``(url, what went wrong)`` for each mirror tried; it is empty when the
    problem was local (e.g. a folder that cannot be written).
    """

    def __init__(self, message: str, attempts: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.attempts = list(attempts or [])


class DatasetWriteError(OSError):
    """A dataset file could not be written here: the disk is full or writing is not permitted.

    Nothing already on disk is damaged: the file being written was a temporary one, deleted.
    ``errno`` is the original error's (``errno.ENOSPC``, ``errno.EACCES``, ...).
    """


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}  # EDQUOT: quota
_NOT_PERMITTED = {errno.EACCES, errno.EPERM, errno.EROFS}


def write_error(error: OSError, path: str | os.PathLike, context: str) -> DatasetWriteError:
    """The ``DatasetWriteError`` that says what ``error``, met while writing ``path``, means.

    ``context`` names the dataset or the operation (``"CIFAR-10: extracting the archive"``).
    """
    path = Path(path)
    if error.errno in _DISK_FULL:
        message = (f"{context}: the disk is full: no space left to write {path} "
                   f"({error.strerror}). Free some space in {path.parent} (or choose another "
                   f"folder with root= or $MINICNN_DATA) and try again; the files already "
                   f"there are intact, do not delete them.")
    elif error.errno in _NOT_PERMITTED:
        message = (f"{context}: permission denied: cannot write {path} ({error.strerror}). "
                   f"Choose a folder you can write (root= or $MINICNN_DATA) or change the "
                   f"permissions of {path.parent}.")
    else:
        message = f"{context}: cannot write {path} ({type(error).__name__}: {error})"
    result = DatasetWriteError(message)
    result.errno = error.errno  # not strerror or filename: str() would then drop the message
    return result
