"""The IDX reader on small files written here: format, gzip detection, and every failure."""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest

from minicnn.data import DatasetFileError, read_idx, read_idx_images, read_idx_labels, write_idx
from minicnn.data.idx import IMAGES_MAGIC, LABELS_MAGIC


def idx_bytes(magic: int, shape: tuple[int, ...], body: bytes) -> bytes:
    """An IDX file assembled by hand, byte by byte, independently of write_idx."""
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in shape) + body


@pytest.fixture
def images():
    return np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)


def test_reads_a_hand_built_image_file(tmp_path, images):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_bytes(IMAGES_MAGIC, (3, 4, 5), images.tobytes()))
    out = read_idx_images(path)
    assert out.dtype == np.uint8 and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, images)
    out[0, 0, 0] = 99  # a writable copy, not a read-only view of the file's bytes


def test_reads_a_hand_built_label_file(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(LABELS_MAGIC, (4,), bytes([7, 0, 9, 3])))
    np.testing.assert_array_equal(read_idx_labels(path), [7, 0, 9, 3])


def test_gzip_is_detected_by_content_not_name(tmp_path, images):
    content = idx_bytes(IMAGES_MAGIC, (3, 4, 5), images.tobytes())
    compressed_without_gz = tmp_path / "images-idx3-ubyte"
    compressed_without_gz.write_bytes(gzip.compress(content))
    raw_named_gz = tmp_path / "images-idx3-ubyte.gz"
    raw_named_gz.write_bytes(content)
    np.testing.assert_array_equal(read_idx(compressed_without_gz), images)
    np.testing.assert_array_equal(read_idx(raw_named_gz), images)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["array.idx", "array.idx.gz"])
def test_write_then_read_every_idx_dtype(tmp_path, dtype, name):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    write_idx(tmp_path / name, array)
    out = read_idx(tmp_path / name)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)
    assert list(tmp_path.iterdir()) == [tmp_path / name]  # no temporary file left behind


def test_multibyte_values_are_big_endian(tmp_path):
    path = tmp_path / "ints.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2) + struct.pack(">ii", 1, -2))
    np.testing.assert_array_equal(read_idx(path), [1, -2])


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))


# --- corrupt, truncated and wrong-kind files -----------------------------------------------


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DatasetFileError, match=r"train-images-idx3-ubyte.*not an IDX file.*"
                                               r"3c 68 74 6d.*expected magic 0x00000803"):
        read_idx_images(path)


def test_shorter_than_the_magic_number(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DatasetFileError, match=r"x-idx1-ubyte: too short .* 2 byte"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(struct.pack(">II", IMAGES_MAGIC, 60000) + b"\x00\x1c")
    with pytest.raises(DatasetFileError, match=r"truncated header: 3 dimension\(s\) need a "
                                               r"16-byte header, the file has only 10 byte"):
        read_idx_images(path)


def test_truncated_body_says_what_the_header_promised(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(IMAGES_MAGIC, (60000, 28, 28), bytes(1000))))
    with pytest.raises(DatasetFileError) as caught:
        read_idx_images(path)
    message = str(caught.value)
    assert str(path) in message
    assert "truncated: header says 60000×28×28 = 47,040,000 pixel bytes, file has 1,000" in message


def test_trailing_bytes_are_an_error(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(LABELS_MAGIC, (3,), bytes(5)))
    with pytest.raises(DatasetFileError, match=r"too long: header says 3 = 3 label bytes, "
                                               r"file has 5"):
        read_idx_labels(path)


def test_truncated_gzip_stream(tmp_path, images):
    compressed = gzip.compress(idx_bytes(IMAGES_MAGIC, (3, 4, 5), images.tobytes()))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DatasetFileError, match=r"train-images-idx3-ubyte.gz: truncated gzip "
                                               r"stream.*download it again"):
        read_idx_images(path)


def test_corrupt_gzip_stream(tmp_path, images):
    compressed = bytearray(gzip.compress(idx_bytes(IMAGES_MAGIC, (3, 4, 5), images.tobytes())))
    compressed[-6] ^= 0xFF  # damage the CRC-32 in the gzip trailer
    path = tmp_path / "images.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(DatasetFileError, match=r"images.gz: corrupt gzip stream"):
        read_idx_images(path)


def test_labels_given_where_images_expected(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(LABELS_MAGIC, (2,), bytes(2)))
    with pytest.raises(DatasetFileError, match=r"expected magic 0x00000803 \(an IDX image file: "
                                               r"uint8, 3 dimensions\), got magic 0x00000801 "
                                               r"\(an IDX label file: uint8, 1 dimension\)"):
        read_idx_images(path)


def test_images_given_where_labels_expected(tmp_path, images):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(IMAGES_MAGIC, (3, 4, 5), images.tobytes()))
    with pytest.raises(DatasetFileError, match="expected magic 0x00000801"):
        read_idx_labels(path)


def test_errors_are_value_errors(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with pytest.raises(ValueError):
        read_idx(path)


# --- declared sizes against the data: nothing inflated past the header's size ---------------


def test_a_gzip_bomb_is_refused_after_one_byte_too_many(tmp_path):
    # A 3-label header, then 64 MiB of zeros: about 64 KB once compressed.
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(LABELS_MAGIC, (3,), bytes(3 + 2**26))))
    assert path.stat().st_size < 2**17
    tracemalloc.start()
    try:
        with pytest.raises(DatasetFileError) as caught:
            read_idx_labels(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**23  # a chunk or two, not 64 MiB
    assert ("labels.gz (after gzip decompression): too long: header says 3 = 3 label bytes, "
            "file has more than 3 after its 8-byte header") in str(caught.value)


def test_a_header_claiming_more_than_memory_is_refused_as_truncated(tmp_path):
    path = tmp_path / "images.gz"
    huge = (2**32 - 1, 2**32 - 1, 2**32 - 1)
    path.write_bytes(gzip.compress(idx_bytes(IMAGES_MAGIC, huge, bytes(100))))
    with pytest.raises(DatasetFileError, match=r"truncated: header says 4294967295×4294967295×"
                                               r"4294967295 = .* pixel bytes, file has 100 "):
        read_idx_images(path)

