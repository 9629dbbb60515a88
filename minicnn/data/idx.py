"""Reader for the IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.

An IDX file is a small header followed by one array, stored row-major and big-endian::

    byte 0-1   0x00 0x00
    byte 2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
               0x0D float32, 0x0E float64
    byte 3     number of dimensions, d
    then       d sizes, each a 32-bit big-endian unsigned integer
    then       the elements

Read as one 32-bit big-endian number, the first four bytes are the "magic number":
``0x00000803`` for image files (uint8, 3 dimensions: count, rows, columns) and ``0x00000801``
for label files (uint8, 1 dimension: count).

Whether a file is gzip-compressed is decided by its first two bytes (``1f 8b``), not by its
name. Every check names the file, what it expected and what it found.
"""

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .._atomic import atomic_write
from .errors import DatasetFileError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# The third header byte names the element type; multi-byte elements are big-endian (">").
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
CHUNK_SIZE = 1 << 20
_KIND_NAMES = {IMAGES_MAGIC: "an IDX image file", LABELS_MAGIC: "an IDX label file"}
_ELEMENT_WORDS = {IMAGES_MAGIC: "pixel bytes", LABELS_MAGIC: "label bytes"}


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """The array stored in the IDX file at ``path`` (gzip-compressed or not).

    Returns a writable array in native byte order whose shape is the header's sizes, e.g.
    ``(60000, 28, 28)`` uint8 for MNIST training images. If ``expected_magic`` is given
    (``IMAGES_MAGIC``, ``LABELS_MAGIC``), a file of another kind is an error.

    The header's sizes are checked against the data before the array is made; a gzip stream
    is inflated no further than the header's size plus one byte, so a small file that inflates
    to gigabytes is refused as too long without being inflated.

    Raises ``DatasetFileError`` (a ``ValueError``) for a file that is not IDX, of the wrong
    kind, truncated, too long, or a damaged gzip stream.
    """
    path = Path(path)
    compressed = _is_gzip(path)
    where = f"{path}{' (after gzip decompression)' if compressed else ''}"
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as stream:
            magic, dtype, shape, header_size = _read_header(stream, where, expected_magic)
            expected_bytes = math.prod(shape) * dtype.itemsize
            if compressed:
                data = _read_at_most(stream, expected_bytes + 1)  # one byte more tells "too long"
                data_bytes = len(data)
            else:
                data_bytes = os.fstat(stream.fileno()).st_size - header_size
                data = stream.read(expected_bytes) if data_bytes == expected_bytes else b""
    except EOFError:
        raise DatasetFileError(
            f"{path}: truncated gzip stream: the {path.stat().st_size:,}-byte file ends before "
            f"the gzip end-of-stream marker (an interrupted download?); delete it and download "
            f"it again") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DatasetFileError(
            f"{path}: corrupt gzip stream ({error}); delete it and download it again") from None

    what = _ELEMENT_WORDS.get(magic, "data bytes")
    declared = f"header says {'×'.join(str(s) for s in shape)} = {expected_bytes:,} {what}"
    if data_bytes < expected_bytes:
        raise DatasetFileError(
            f"{where}: truncated: {declared}, file has {data_bytes:,} after its "
            f"{header_size}-byte header; delete it and download it again")
    if data_bytes > expected_bytes:
        has = f"more than {expected_bytes:,}" if compressed else f"{data_bytes:,}"
        raise DatasetFileError(
            f"{where}: too long: {declared}, file has {has} after its {header_size}-byte "
            f"header (the file is corrupt)")

    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    # frombuffer gives a read-only, possibly big-endian view; astype copies it into a
    # writable native-endian array that a student can modify freely.
    return array.astype(dtype.newbyteorder("="))


def _read_header(stream, where: str, expected_magic: int | None):
    """(magic, dtype, shape, header size) from the header at the start of ``stream``, checked."""
    start = stream.read(4)
    if len(start) < 4:
        raise DatasetFileError(
            f"{where}: too short to be an IDX file: {len(start)} byte(s), "
            f"the header alone needs at least 4")
    magic = int.from_bytes(start, "big")
    zero, type_code, ndim = start[0:2], start[2], start[3]
    if zero != b"\x00\x00" or type_code not in IDX_DTYPES or ndim == 0:
        expected = f"; expected {_describe_magic(expected_magic)}" if expected_magic else ""
        raise DatasetFileError(
            f"{where}: not an IDX file: it starts with bytes {start.hex(' ')}, while an "
            f"IDX file starts with 00 00, a type byte (08, 09, 0b, 0c, 0d or 0e) and a "
            f"non-zero number of dimensions{expected}")
    if expected_magic is not None and magic != expected_magic:
        raise DatasetFileError(
            f"{where}: expected {_describe_magic(expected_magic)}, got {_describe_magic(magic)}")

    header_size = 4 + 4 * ndim
    sizes = stream.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DatasetFileError(
            f"{where}: truncated header: {ndim} dimension(s) need a {header_size}-byte header, "
            f"the file has only {4 + len(sizes)} byte(s)")
    shape = tuple(int.from_bytes(sizes[4 * i: 4 * i + 4], "big") for i in range(ndim))
    return magic, IDX_DTYPES[type_code], shape, header_size


def _read_at_most(stream, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``stream``, read a chunk at a time: memory grows with the bytes
    that come, not with the size a header claims."""
    chunks, size = [], 0
    while size < limit and (chunk := stream.read(min(CHUNK_SIZE, limit - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Images from an IDX image file (magic 0x00000803): uint8 array (count, rows, columns)."""
    return read_idx(path, expected_magic=IMAGES_MAGIC)


def read_idx_labels(path: str | os.PathLike) -> np.ndarray:
    """Labels from an IDX label file (magic 0x00000801): uint8 array (count,)."""
    return read_idx(path, expected_magic=LABELS_MAGIC)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save ``array`` as an IDX file at ``path``, gzip-compressed if the name ends in ``.gz``.

    The dtype must be one IDX can hold (uint8, int8, int16, int32, float32, float64), e.g.
    uint8 images (N, rows, columns) or labels (N,). The file is written to a temporary name
    and renamed into place, so it never exists half-written.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes or not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: expected an array of 1 to 255 dimensions and dtype "
                         f"uint8, int8, int16, int32, float32 or float64, got {array.dtype} "
                         f"with shape {array.shape}")
    header = bytes([0, 0, codes[native], array.ndim])
    header += b"".join(size.to_bytes(4, "big") for size in array.shape)
    body = array.astype(array.dtype.newbyteorder(">")).tobytes()
    content = header + body
    if path.name.endswith(".gz"):
        content = gzip.compress(content, compresslevel=6)
    with atomic_write(path) as out:
        out.write(content)


def _is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic bytes (its name does not matter)."""
    with open(path, "rb") as file:
        return file.read(2) == GZIP_MAGIC


def _describe_magic(magic: int) -> str:
    """E.g. 'magic 0x00000803 (an IDX image file: uint8, 3 dimensions)'."""
    type_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    dtype = IDX_DTYPES.get(type_code)
    element = (dtype.newbyteorder("=").name if dtype is not None
               else f"unknown type {type_code:#04x}")
    kind = _KIND_NAMES.get(magic, "an IDX file")
    return f"magic {magic:#010x} ({kind}: {element}, {ndim} dimension{'s' if ndim != 1 else ''})"
