"""Fetch dataset files from public mirrors, verified by SHA-256 and written atomically.

How a file is fetched (``download_file``):

1. The mirrors are tried in order; the URL is ``<mirror>/<filename>``.
2. The bytes stream into a temporary file *in the target folder* (``.<name>.<random>.part``),
   while their SHA-256 is computed and a tqdm progress bar advances.
3. Only a file with the expected SHA-256 is renamed onto its final name, with ``os.replace``,
   which is atomic: a reader sees either no file or the whole verified file, never a partial
   one. A mirror that fails (no connection, HTTP error, cut-off transfer) or serves other
   bytes is skipped and the temporary file deleted.
4. If every mirror fails, ``DownloadError`` names the files, their checksums, the folder to
   put them in by hand and what went wrong at each mirror.

Nothing a server says is trusted with memory, disk or time. A transfer stops as soon as it
passes the file's known size (``max_bytes``: the exact size for MNIST's files, a bound for
CIFAR-10's archive, ``MAX_DOWNLOAD_BYTES`` otherwise), and past an overall deadline
(``deadline_seconds``) however slowly the bytes trickle in; each read also has a timeout.

A problem on *this* machine is not a mirror's fault, and trying the next mirror cannot fix it:
a full disk or a folder that cannot be written stops the download at once with a
``DatasetWriteError`` that says which (see ``errors.py``); the files already there are intact.

Files already present are verified too (``ensure_files``). A present file with the wrong
checksum is **replaced automatically** when downloading is allowed (with a warning; the old
file stays until a verified copy replaces it), and is an error naming the file when it is not
(``download=False``): we never silently train on a corrupt file.

Only the standard library's ``urllib`` is used. Tests point the mirror lists at a local server.
"""

import errno
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._atomic import atomic_write
from .errors import DatasetFileError, DatasetNotFoundError, DownloadError, write_error

TIMEOUT_SECONDS = 30  # the longest wait for a connection or for any bytes at all
CHUNK_SIZE = 1 << 20
MAX_DOWNLOAD_BYTES = 2**31  # the size limit of a file whose size is not known
# The overall deadline of one transfer allows this slow a connection, plus TIMEOUT_SECONDS.
MIN_BYTES_PER_SECOND = 32 * 1024
USER_AGENT = "minicnn-data/0.1 (Python urllib)"


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of the file at ``path``, as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_files(folder: str | os.PathLike, files: Mapping[str, str], mirrors: Sequence[str], *,
                 download: bool, dataset: str, max_bytes: Mapping[str, int] | None = None,
                 progress: bool = True) -> None:
    """Make sure ``folder`` holds every file of ``files`` ({filename: sha256}) intact.

    Present files are verified; missing ones (and, if ``download``, corrupt ones) are fetched
    from ``mirrors`` with ``download_file``, each at most ``max_bytes[name]`` bytes long
    (``MAX_DOWNLOAD_BYTES`` for a name not in it). ``dataset`` (e.g. ``"MNIST (train)"``)
    names the dataset in messages.

    Raises ``DatasetNotFoundError`` for missing files with ``download=False``,
    ``DatasetFileError`` for a corrupt file with ``download=False``, ``DownloadError`` when no
    mirror delivers a good copy, and ``DatasetWriteError`` when the file cannot be written here.
    """
    max_bytes = dict(max_bytes or {})
    folder = Path(folder)
    to_fetch = []
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            to_fetch.append(name)
            continue
        actual = sha256_of(path)
        if actual == expected:
            continue
        if not download:
            raise DatasetFileError(
                f"{dataset}: {path} is corrupt or not the original file: its SHA-256 is {actual}, "
                f"expected {expected}. Delete it and download it again (download=True), or "
                f"replace it with a good copy.")
        warnings.warn(f"{dataset}: {path} has SHA-256 {actual}, expected {expected}; "
                      f"downloading a fresh copy to replace it", stacklevel=3)
        to_fetch.append(name)
    if not to_fetch:
        return

    wanted = {name: files[name] for name in to_fetch}
    if not download:
        raise DatasetNotFoundError(
            f"{dataset}: {len(wanted)} file(s) missing in {folder}{os.sep}. Pass download=True "
            f"to fetch them, or put these files there yourself:\n{_file_table(wanted)}\n"
            f"{_where_they_are(mirrors)}")
    for position, name in enumerate(to_fetch):
        try:
            download_file(name, files[name], folder, mirrors,
                          max_bytes=max_bytes.get(name, MAX_DOWNLOAD_BYTES), progress=progress,
                          context=dataset)
        except DownloadError as error:
            if not error.attempts:  # a local problem, already explained
                raise
            still_missing = {n: files[n] for n in to_fetch[position:]}
            raise DownloadError(
                f"{dataset}: could not download {name} into {folder}{os.sep}; "
                f"{_attempts_text(error.attempts)}\nTo set the dataset up by hand, put these "
                f"files into {folder}{os.sep} under exactly these names:\n"
                f"{_file_table(still_missing)}\n"
                f"{_where_they_are(mirrors)}") from None


def download_file(filename: str, sha256: str, folder: str | os.PathLike, mirrors: Sequence[str],
                  *, max_bytes: int = MAX_DOWNLOAD_BYTES, progress: bool = True,
                  context: str = "download") -> Path:
    """Download ``filename`` into ``folder`` from the first mirror that serves the right bytes.

    A mirror that sends more than ``max_bytes`` bytes, or takes longer than
    ``deadline_seconds(max_bytes)``, is cut off and the next one tried. Returns the path of
    the verified file. Raises ``DownloadError`` if no mirror delivers it (its ``attempts``
    attribute lists ``(url, what went wrong)`` for each mirror), and ``DatasetWriteError``
    at once if the file cannot be written here (disk full, permission denied); ``context``
    names the dataset in that message.
    """
    if not mirrors:
        raise DownloadError(f"cannot download {filename}: the list of mirrors is empty")
    folder = Path(folder)
    target = folder / filename
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(error, folder, f"{context}: cannot create the folder") from None
    if not os.access(folder, os.W_OK):  # a local problem: no mirror can fix it
        raise write_error(PermissionError(errno.EACCES, "Permission denied"), target, context)
    attempts = []
    for mirror in mirrors:
        url = f"{mirror.rstrip('/')}/{filename}"
        try:
            _fetch_verified(url, target, sha256, max_bytes, progress, context)
            return target
        except _MirrorFailed as failure:
            attempts.append((url, str(failure)))
    raise DownloadError(f"could not download {filename} (SHA-256 {sha256}) into {folder}; "
                        + _attempts_text(attempts), attempts)


def deadline_seconds(max_bytes: int) -> float:
    """How long one transfer of at most ``max_bytes`` may take, in all."""
    return TIMEOUT_SECONDS + max_bytes / MIN_BYTES_PER_SECOND


class _MirrorFailed(Exception):
    """One mirror could not deliver the file; the message says why. The next mirror is tried."""


class _WriteFailed(Exception):
    """Writing the downloaded bytes here failed (``__cause__`` is the OSError): stop at once."""


def _fetch_verified(url: str, target: Path, sha256: str, max_bytes: int, progress: bool,
                    context: str) -> None:
    """Stream ``url`` into a temporary file next to ``target``; rename it onto ``target`` if its
    SHA-256 is ``sha256``, otherwise delete it and raise ``_MirrorFailed``."""
    # A failed or interrupted download, or a wrong checksum, leaves no file behind.
    try:
        with atomic_write(target) as out:
            actual, size = _stream(url, out, target.name, max_bytes, progress)
            if actual != sha256:
                raise _MirrorFailed(f"served {size:,} bytes with SHA-256 {actual}, "
                                    f"expected {sha256}")
    except _WriteFailed as failure:
        raise write_error(failure.__cause__, target, context) from None
    except OSError as error:  # creating, flushing or renaming the file: also local
        raise write_error(error, target, context) from None


def _stream(url: str, out, label: str, max_bytes: int, progress: bool) -> tuple[str, int]:
    """Copy ``url``'s body into the open file ``out``; return (its SHA-256, its size).

    Stops with ``_MirrorFailed`` past ``max_bytes`` bytes or past the overall deadline, and
    with ``_WriteFailed`` if ``out`` cannot take the bytes.
    """
    from tqdm.auto import tqdm  # imported here: only downloads need it

    deadline = time.monotonic() + deadline_seconds(max_bytes)
    digest = hashlib.sha256()
    size = 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            length = response.headers.get("Content-Length")
            expected_size = int(length) if length and length.isdigit() else None
            if expected_size is not None and expected_size > max_bytes:
                raise _MirrorFailed(f"announces {expected_size:,} bytes, but the file has at "
                                    f"most {max_bytes:,}")
            with tqdm(total=expected_size, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=label, disable=not progress, leave=False) as bar:
                # read1 returns what has arrived, so the deadline is checked however slowly
                # the bytes come (read(n) would wait for all n of them); never more than one
                # byte past max_bytes is read.
                while chunk := response.read1(min(CHUNK_SIZE, max_bytes + 1 - size)):
                    size += len(chunk)
                    if size > max_bytes:
                        raise _MirrorFailed(f"sent more than the {max_bytes:,} bytes the file "
                                            f"has at most; stopped")
                    if time.monotonic() > deadline:
                        raise _MirrorFailed(f"too slow: {size:,} bytes after "
                                            f"{deadline_seconds(max_bytes):.0f} s; stopped")
                    try:
                        out.write(chunk)
                    except OSError as error:
                        raise _WriteFailed from error
                    digest.update(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise _MirrorFailed(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise _MirrorFailed(f"cannot connect ({error.reason})") from None
    except (http.client.HTTPException, OSError) as error:  # OSError covers timeouts and resets
        raise _MirrorFailed(f"transfer failed ({type(error).__name__}: {error})") from None
    # urllib does not complain when a server closes the connection early: compare the sizes.
    if expected_size is not None and size != expected_size:
        raise _MirrorFailed(f"transfer cut off after {size:,} of {expected_size:,} bytes")
    return digest.hexdigest(), size


def _attempts_text(attempts: list[tuple[str, str]]) -> str:
    lines = "\n".join(f"  {url}: {reason}" for url, reason in attempts)
    return f"every mirror failed:\n{lines}"


def _file_table(files: Mapping[str, str]) -> str:
    width = max(len(name) for name in files)
    return "\n".join(f"  {name:<{width}}  SHA-256 {sha}" for name, sha in files.items())


def _where_they_are(mirrors: Sequence[str]) -> str:
    return f"The files are published at: {', '.join(mirrors) if mirrors else '(no mirrors)'}."
