"""MNIST, Fashion-MNIST and CIFAR-10: the real files when available, small fakes otherwise."""

import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from minicnn.data import (
    CIFAR10,
    MNIST,
    DatasetFileError,
    DatasetNotFoundError,
    FashionMNIST,
    Normalize,
    data_root,
    read_cifar_batch,
    sha256_of,
    write_idx,
)

REPO = Path(__file__).resolve().parents[1]


# --- the real files -------------------------------------------------------------------------


def real_data_root() -> Path:
    """$MINICNN_DATA if set (missing files then FAIL the tests), else ../shared/data, else skip."""
    if os.environ.get("MINICNN_DATA"):
        return Path(os.environ["MINICNN_DATA"])
    shared = REPO.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    pytest.skip("real MNIST/Fashion-MNIST not available: set MINICNN_DATA to a folder holding "
                "mnist/ and fashion-mnist/")


MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize(("dataset_class", "train", "counts"), [
    (MNIST, True, MNIST_TRAIN_COUNTS),
    (MNIST, False, MNIST_TEST_COUNTS),
    (FashionMNIST, True, [6000] * 10),
    (FashionMNIST, False, [1000] * 10),
])
def test_real_files(dataset_class, train, counts):
    dataset = dataset_class(root=real_data_root(), train=train, download=False)
    n = sum(counts)
    assert len(dataset) == n
    assert dataset.data.shape == (n, 1, 28, 28) and dataset.data.dtype == np.float32
    assert dataset.targets.shape == (n,) and dataset.targets.dtype == np.int64
    assert dataset.data.min() == 0.0 and dataset.data.max() == 1.0
    np.testing.assert_array_equal(np.bincount(dataset.targets, minlength=10), counts)
    image, label = dataset[0]
    assert image.shape == (1, 28, 28) and isinstance(label, int)
    assert len(dataset.classes) == 10


def test_real_class_names():
    assert MNIST.classes[0] == "0" and MNIST.classes[9] == "9"
    assert FashionMNIST.classes[0] == "T-shirt/top" and FashionMNIST.classes[9] == "Ankle boot"


# --- the data root --------------------------------------------------------------------------


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    assert data_root() == tmp_path / "home" / ".cache" / "minicnn"
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root("~/x") == tmp_path / "home" / "x"


# --- MNIST-style datasets on small fake files ---------------------------------------------


def write_fake_idx_dataset(root: Path, dataset_class, monkeypatch, n_train=30, n_test=12):
    """Fake IDX files under <root>/<folder>/, with their checksums injected into the class."""
    folder = root / dataset_class.folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        arrays[prefix] = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                          (np.arange(n) % 10).astype(np.uint8))
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", arrays[prefix][0])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", arrays[prefix][1])
    refresh_checksums(folder, dataset_class, monkeypatch)
    monkeypatch.setattr(dataset_class, "mirrors", [])  # never the network
    return arrays


def refresh_checksums(folder: Path, dataset_class, monkeypatch):
    monkeypatch.setattr(dataset_class, "resources",
                        {path.name: sha256_of(path) for path in folder.glob("*.gz")})


@pytest.mark.parametrize("dataset_class", [MNIST, FashionMNIST])
def test_fake_files_read_back_exactly(dataset_class, tmp_path, monkeypatch):
    arrays = write_fake_idx_dataset(tmp_path, dataset_class, monkeypatch)
    for train, prefix in ((True, "train"), (False, "t10k")):
        dataset = dataset_class(root=tmp_path, train=train, download=False)
        images, labels = arrays[prefix]
        assert dataset.data.shape == (len(images), 1, 28, 28)
        assert dataset.data.dtype == np.float32 and dataset.targets.dtype == np.int64
        np.testing.assert_array_equal(dataset.data[:, 0], images.astype(np.float32) / 255)
        np.testing.assert_array_equal(dataset.targets, labels)
    assert dataset.classes == list(dataset_class.classes)
    assert "test" in repr(dataset)


def test_root_from_environment(tmp_path, monkeypatch):
    write_fake_idx_dataset(tmp_path, MNIST, monkeypatch)
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path))
    assert len(MNIST(train=False, download=False)) == 12


def test_getitem_applies_the_transform(tmp_path, monkeypatch):
    write_fake_idx_dataset(tmp_path, MNIST, monkeypatch)
    dataset = MNIST(root=tmp_path, download=False, transform=Normalize(0.5, 0.25))
    image, label = dataset[3]
    np.testing.assert_allclose(image, (dataset.data[3] - 0.5) / 0.25, rtol=1e-6)
    assert image.dtype == np.float32 and label == 3
    assert dataset[-1][1] == dataset.targets[-1]
    with pytest.raises(IndexError, match="out of range"):
        dataset[len(dataset)]


def test_missing_files_without_download_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", [])
    with pytest.raises(DatasetNotFoundError) as caught:
        MNIST(root=tmp_path, download=False)
    message = str(caught.value)
    assert str(tmp_path / "mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert MNIST.resources["train-images-idx3-ubyte.gz"] in message
    assert "download=True" in message
    assert not (tmp_path / "mnist").exists()  # nothing created when nothing may be downloaded


def test_corrupt_present_file_without_download(tmp_path, monkeypatch):
    write_fake_idx_dataset(tmp_path, MNIST, monkeypatch)
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DatasetFileError, match=r"train-labels-idx1-ubyte.gz is corrupt.*"
                                               r"SHA-256.*Delete it"):
        MNIST(root=tmp_path, download=False)


def test_image_and_label_counts_must_match(tmp_path, monkeypatch):
    write_fake_idx_dataset(tmp_path, MNIST, monkeypatch)
    folder = tmp_path / "mnist"
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(29, dtype=np.uint8))
    refresh_checksums(folder, MNIST, monkeypatch)
    with pytest.raises(DatasetFileError, match=r"holds 30 images but .*train-labels-idx1-ubyte"
                                               r".gz holds 29 labels"):
        MNIST(root=tmp_path, download=False)


def test_labels_out_of_range(tmp_path, monkeypatch):
    write_fake_idx_dataset(tmp_path, MNIST, monkeypatch)
    folder = tmp_path / "mnist"
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(12, 10, dtype=np.uint8))
    refresh_checksums(folder, MNIST, monkeypatch)
    with pytest.raises(DatasetFileError, match="expected labels 0–9, found 10"):
        MNIST(root=tmp_path, train=False, download=False)


def test_wrong_image_size(tmp_path, monkeypatch):
    write_fake_idx_dataset(tmp_path, MNIST, monkeypatch)
    folder = tmp_path / "mnist"
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((12, 32, 32), dtype=np.uint8))
    refresh_checksums(folder, MNIST, monkeypatch)
    with pytest.raises(DatasetFileError, match="expected 28×28 images, got 32×32"):
        MNIST(root=tmp_path, train=False, download=False)


def test_labels_file_in_place_of_images(tmp_path, monkeypatch):
    write_fake_idx_dataset(tmp_path, MNIST, monkeypatch)
    folder = tmp_path / "mnist"
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros(12, dtype=np.uint8))
    refresh_checksums(folder, MNIST, monkeypatch)
    with pytest.raises(DatasetFileError, match="expected magic 0x00000803"):
        MNIST(root=tmp_path, train=False, download=False)


# --- CIFAR-10 on small files in the official binary format ---------------------------------

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]
CIFAR_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def cifar_records(labels, pixels) -> bytes:
    """Official layout: per record, 1 label byte, then 1024 R, 1024 G, 1024 B (row-major)."""
    return b"".join(bytes([label]) + planes.tobytes()
                    for label, planes in zip(labels, pixels, strict=True))


def write_fake_cifar(folder: Path, records_per_file=4):
    """Every .bin file and batches.meta.txt; returns {file: (labels, pixels (n, 3, 32, 32))}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    contents = {}
    for name in CIFAR_FILES:
        labels = rng.integers(0, 10, records_per_file).astype(np.uint8)
        pixels = rng.integers(0, 256, (records_per_file, 3, 32, 32), dtype=np.uint8)
        (folder / name).write_bytes(cifar_records(labels, pixels))
        contents[name] = (labels, pixels)
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR_CLASSES) + "\n\n")
    return contents


def test_cifar_reads_back_exactly(tmp_path):
    contents = write_fake_cifar(tmp_path / "cifar-10-batches-bin")
    train = CIFAR10(root=tmp_path, train=True, download=False)
    test = CIFAR10(root=tmp_path, train=False, download=False)
    train_labels = np.concatenate([contents[f"data_batch_{i}.bin"][0] for i in range(1, 6)])
    train_pixels = np.concatenate([contents[f"data_batch_{i}.bin"][1] for i in range(1, 6)])
    assert train.data.shape == (20, 3, 32, 32) and train.data.dtype == np.float32
    assert train.targets.dtype == np.int64
    np.testing.assert_array_equal(train.targets, train_labels)
    np.testing.assert_array_equal(train.data, train_pixels.astype(np.float32) / 255)
    np.testing.assert_array_equal(test.targets, contents["test_batch.bin"][0])
    assert train.classes == CIFAR_CLASSES and len(test) == 4


def test_cifar_pixel_layout_is_channel_major(tmp_path):
    record = bytearray(3073)
    record[0] = 7                    # the label
    record[1 + 0 * 1024 + 1] = 11    # red,   row 0, column 1
    record[1 + 1 * 1024 + 32] = 22   # green, row 1, column 0
    record[1 + 2 * 1024 + 1023] = 33  # blue,  row 31, column 31
    path = tmp_path / "one.bin"
    path.write_bytes(bytes(record))
    images, labels = read_cifar_batch(path)
    assert images.shape == (1, 3, 32, 32) and labels.tolist() == [7]
    assert images[0, 0, 0, 1] == 11 and images[0, 1, 1, 0] == 22 and images[0, 2, 31, 31] == 33
    assert images.sum() == 11 + 22 + 33


def test_cifar_bad_record_size(tmp_path):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(bytes(2 * 3073 + 5))
    with pytest.raises(DatasetFileError, match=r"data_batch_1.bin: expected a whole number of "
                                               r"3,073-byte records.*2 records and 5 bytes left"):
        read_cifar_batch(path)


def test_cifar_label_out_of_range(tmp_path):
    path = tmp_path / "test_batch.bin"
    path.write_bytes(bytes(3073) + bytes([12]) + bytes(3072))
    with pytest.raises(DatasetFileError, match="record 1 has label 12"):
        read_cifar_batch(path)


def test_cifar_missing_files_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(CIFAR10, "mirrors", [])
    write_fake_cifar(tmp_path / "cifar-10-batches-bin")
    (tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin").unlink()
    with pytest.raises(DatasetNotFoundError) as caught:
        CIFAR10(root=tmp_path, download=False)
    message = str(caught.value)
    assert "missing data_batch_3.bin" in message
    assert str(tmp_path / "cifar-10-batches-bin") in message
    assert "cifar-10-binary.tar.gz" in message and CIFAR10.archive_sha256 in message


def make_tar_gz(path: Path, members: dict[str, bytes], symlinks: dict[str, str] = ()):
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in dict(symlinks).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)


def test_cifar_extracts_a_present_archive_safely(tmp_path, monkeypatch):
    source = tmp_path / "source"
    contents = write_fake_cifar(source / "cifar-10-batches-bin")
    members = {f"cifar-10-batches-bin/{p.name}": p.read_bytes()
               for p in (source / "cifar-10-batches-bin").iterdir()}
    members["../escaped.txt"] = b"path traversal"          # must be ignored
    members["cifar-10-batches-bin/readme.html"] = b"<html>"  # not needed: ignored
    root = tmp_path / "root"
    root.mkdir()
    archive = root / "cifar-10-binary.tar.gz"
    make_tar_gz(archive, members, symlinks={"cifar-10-batches-bin/link": "/etc/passwd"})
    monkeypatch.setattr(CIFAR10, "archive_sha256", sha256_of(archive))
    monkeypatch.setattr(CIFAR10, "mirrors", [])

    test = CIFAR10(root=root, train=False, download=False)  # extraction needs no network
    np.testing.assert_array_equal(test.targets, contents["test_batch.bin"][0])
    extracted = sorted(p.name for p in (root / "cifar-10-batches-bin").iterdir())
    assert extracted == sorted([*CIFAR_FILES, "batches.meta.txt"])
    assert not (tmp_path / "escaped.txt").exists()


def test_cifar_archive_with_a_link_in_place_of_a_batch(tmp_path, monkeypatch):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    make_tar_gz(archive, {}, symlinks={"cifar-10-batches-bin/data_batch_1.bin": "/etc/passwd"})
    monkeypatch.setattr(CIFAR10, "archive_sha256", sha256_of(archive))
    with pytest.raises(DatasetFileError, match=r"data_batch_1\.bin to be a regular file.*symbolic"):
        CIFAR10(root=tmp_path, download=False)
    assert not (tmp_path / "cifar-10-batches-bin" / "data_batch_1.bin").exists()


def test_cifar_corrupt_archive_without_download(tmp_path):
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(DatasetFileError, match=r"cifar-10-binary.tar.gz is corrupt"):
        CIFAR10(root=tmp_path, download=False)
