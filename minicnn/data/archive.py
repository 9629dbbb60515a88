"""Safe extraction of a few known files from a ``.tar.gz`` archive (used for CIFAR-10).

``tarfile.extractall`` trusts the names inside the archive, so a crafted archive could write
outside the target folder (``../../.bashrc``) or plant links. Here the output paths are built
from the names *we* expect, never from names found in the archive; each expected member must
be a regular file; everything else in the archive is ignored. Each file is written to a
temporary name and renamed into place, so a half-extracted file never looks complete.
"""

import os
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from .._atomic import atomic_write
from .errors import DatasetFileError

CHUNK_SIZE = 1 << 20


def extract_members(archive: str | os.PathLike, members: Iterable[str],
                    destination: str | os.PathLike) -> None:
    """Extract exactly ``members`` (relative paths such as ``"cifar-10-batches-bin/x.bin"``)
    from the gzip-compressed tar ``archive`` into ``destination``.

    Reads the archive once, front to back. Raises ``DatasetFileError`` if a member is missing,
    is not a regular file, or the archive is damaged.
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
                _write_atomically(tar.extractfile(info), destination / name)
                found.add(name)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DatasetFileError(f"{archive}: damaged archive ({type(error).__name__}: {error}); "
                               f"delete it and download it again") from None
    if missing := sorted(wanted - found):
        raise DatasetFileError(f"{archive}: the archive lacks {', '.join(missing)}; "
                               f"it is not the original archive")


def _write_atomically(source, target: Path) -> None:
    """Copy the file object ``source`` to ``target`` through a temporary file and a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as out:
        while chunk := source.read(CHUNK_SIZE):
            out.write(chunk)


def _kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return "symbolic link"
    if info.islnk():
        return "hard link"
    if info.isdir():
        return "directory"
    return "special file"
