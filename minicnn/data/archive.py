"""Safe extraction of a few known files from a ``.tar.gz`` archive (used for CIFAR-10).

``tarfile.extractall`` trusts the names inside the archive, so a crafted archive could write
outside the target folder (``../../.bashrc``) or plant links. Here the output paths are built
from the names *we* expect, never from names found in the archive; each expected member must
be a regular file; everything else in the archive is ignored. Each file is written to a
temporary name and renamed into place, so a half-extracted file never looks complete.

Three failures, three messages: an archive that cannot be decompressed is damaged (download it
again); one that cannot be *read* (an I/O error) and a file that cannot be *written* (disk
full, permission denied: ``DatasetWriteError``) say so and leave the archive alone, since it
may well be good.
"""

import gzip
import os
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from .._atomic import atomic_write
from .errors import DatasetFileError, write_error

CHUNK_SIZE = 1 << 20


def extract_members(archive: str | os.PathLike, members: Iterable[str],
                    destination: str | os.PathLike, *, context: str = "extract") -> None:
    """Extract exactly ``members`` (relative paths such as ``"cifar-10-batches-bin/x.bin"``)
    from the gzip-compressed tar ``archive`` into ``destination``.

    Reads the archive once, front to back. Raises ``DatasetFileError`` if a member is missing,
    is not a regular file, or the archive is damaged or unreadable, and ``DatasetWriteError``
    if a file cannot be written (``context``, e.g. the dataset's name, begins that message).
    """
    archive, destination = Path(archive), Path(destination)
    wanted = set(members)
    for name in wanted:  # our own names: relative, no "..": they cannot escape destination
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"extract_members: unsafe member name {name!r}")
    found = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                name = info.name.removeprefix("./")
                if name not in wanted or name in found:
                    continue
                if not info.isfile():
                    raise DatasetFileError(
                        f"{archive}: expected {name} to be a regular file, but the archive "
                        f"holds a {_kind(info)} there; the archive is not the original")
                _write_atomically(tar.extractfile(info), destination / name, context)
                found.add(name)
    except _WriteFailed as failure:
        raise failure.error from None
    except _ReadFailed as failure:
        raise _reading_error(archive, failure.error) from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:  # reading a header
        raise _reading_error(archive, error) from None
    if missing := sorted(wanted - found):
        raise DatasetFileError(f"{archive}: the archive lacks {', '.join(missing)}; "
                               f"it is not the original archive")


def _reading_error(archive: Path, error: BaseException) -> DatasetFileError:
    """The error to raise for ``error``, met while reading ``archive``."""
    if isinstance(error, (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)):
        return DatasetFileError(f"{archive}: damaged archive ({type(error).__name__}: {error}); "
                                f"delete it and download it again")
    return DatasetFileError(f"{archive}: cannot read the archive ({type(error).__name__}: "
                            f"{error}); a problem of the disk or the file system, not "
                            f"necessarily of the archive: do not delete it yet")


class _ReadFailed(Exception):
    """Reading the archive failed while a member was extracted; ``error`` is what it raised."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


class _WriteFailed(Exception):
    """Writing an extracted file failed; ``error`` is the DatasetWriteError that says why."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


def _write_atomically(source, target: Path, context: str) -> None:
    """Copy the file object ``source`` to ``target`` through a temporary file and a rename.

    Reading ``source`` raises ``_ReadFailed``, writing ``target`` ``_WriteFailed``, so that
    a full disk is never taken for a damaged archive.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target) as out:
            while chunk := _read_chunk(source):
                out.write(chunk)
    except OSError as error:  # only writing raises OSError here: reading raises _ReadFailed
        raise _WriteFailed(write_error(error, target, context)) from None


def _read_chunk(source) -> bytes:
    try:
        return source.read(CHUNK_SIZE)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise _ReadFailed(error) from None


def _kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return "symbolic link"
    if info.islnk():
        return "hard link"
    if info.isdir():
        return "directory"
    return "special file"
