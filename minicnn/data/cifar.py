"""CIFAR-10 from its official *binary* version: 32×32 colour images in 10 classes.

The archive ``cifar-10-binary.tar.gz`` unpacks into ``<root>/cifar-10-batches-bin/``::

    data_batch_1.bin ... data_batch_5.bin   10,000 training images each
    test_batch.bin                          10,000 test images
    batches.meta.txt                        the class names, one per line

Each ``.bin`` file is a sequence of 3,073-byte records: 1 label byte (0–9), then 3,072 pixel
bytes: the 1,024 red values, then the 1,024 green, then the 1,024 blue, each a 32×32 image
stored row by row. So a record is already channel-major, and ``reshape(3, 32, 32)`` gives
(C, H, W). The binary version is read with ``np.frombuffer``: nothing is ever unpickled
(the Python version of CIFAR-10 is pickles, which can run arbitrary code when loaded).
"""

import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from .archive import extract_members
from .dataset import ArrayDataset, bytes_to_unit_float
from .download import ensure_files
from .errors import DatasetFileError, DatasetNotFoundError
from .paths import data_root

CHANNELS, HEIGHT, WIDTH = 3, 32, 32
PIXEL_BYTES = CHANNELS * HEIGHT * WIDTH  # 3,072
RECORD_BYTES = 1 + PIXEL_BYTES           # 3,073: the label byte, then the pixels
NUM_CLASSES = 10


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 3, 32, 32) and labels uint8 (N,) from one CIFAR-10 ``.bin`` file.

    Raises ``DatasetFileError`` if the file is empty, its size is not a whole number of
    3,073-byte records, or a label is not 0–9.
    """
    path = Path(path)
    raw = path.read_bytes()
    records, leftover = divmod(len(raw), RECORD_BYTES)
    if records == 0 or leftover:
        raise DatasetFileError(
            f"{path}: expected a whole number of {RECORD_BYTES:,}-byte records (1 label byte + "
            f"{PIXEL_BYTES:,} pixel bytes), got {len(raw):,} bytes = {records:,} records and "
            f"{leftover:,} bytes left over; the file is truncated or not a CIFAR-10 batch")
    table = np.frombuffer(raw, dtype=np.uint8).reshape(records, RECORD_BYTES)
    labels = table[:, 0].copy()
    if (bad := np.flatnonzero(labels >= NUM_CLASSES)).size:
        raise DatasetFileError(
            f"{path}: expected labels 0–{NUM_CLASSES - 1}, record {bad[0]:,} has label "
            f"{labels[bad[0]]} ({bad.size:,} bad record(s)); the file is corrupt")
    images = table[:, 1:].reshape(records, CHANNELS, HEIGHT, WIDTH)  # R plane, G plane, B plane
    return images, labels


def read_cifar_classes(path: str | os.PathLike) -> list[str]:
    """The 10 class names from ``batches.meta.txt`` (one per line; blank lines ignored)."""
    path = Path(path)
    names = [line.strip() for line in path.read_text(encoding="ascii").splitlines()]
    names = [name for name in names if name]
    if len(names) != NUM_CLASSES:
        raise DatasetFileError(f"{path}: expected {NUM_CLASSES} class names, one per line, "
                               f"got {len(names)}: {names}")
    return names


class CIFAR10(ArrayDataset):
    """CIFAR-10: 50,000 training and 10,000 test colour images, 32×32, 10 classes.

    ``CIFAR10(root=None, train=True, download=True, transform=None)``; ``data`` is float32
    (N, 3, 32, 32) in [0, 1] (RGB), ``targets`` int64 (N,), ``classes`` from
    ``batches.meta.txt`` ("airplane", "automobile", ...).

    If the ``.bin`` files are missing, the archive ``<root>/cifar-10-binary.tar.gz`` is
    verified by SHA-256 (downloaded first if absent and ``download`` is true) and the expected
    members are extracted; the archive is kept, so the files can be restored offline.
    """

    name = "CIFAR-10"
    folder = "cifar-10-batches-bin"
    train_files = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
    test_files = ("test_batch.bin",)
    meta_file = "batches.meta.txt"
    archive = "cifar-10-binary.tar.gz"
    # SHA-256 as listed by tensorflow/datasets (url_checksums/cifar10.txt), 170,052,171 bytes;
    # the MD5 published with the dataset is c32a1d4ab5d03f1284b67883e8d87530.
    archive_sha256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
    archive_size = 170_052_171  # a download stops past it
    mirrors: ClassVar[list[str]] = ["https://www.cs.toronto.edu/~kriz/"]

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = True, transform=None):
        self.root = data_root(root)
        self.train = train
        folder = self.root / self.folder
        batch_files = self.train_files if train else self.test_files
        self._ensure_extracted(folder, download)

        parts = [read_cifar_batch(folder / name) for name in batch_files]
        images = np.concatenate([images for images, _ in parts])
        labels = np.concatenate([labels for _, labels in parts])
        super().__init__(bytes_to_unit_float(images), labels.astype(np.int64),
                         transform=transform, classes=read_cifar_classes(folder / self.meta_file))

    def _ensure_extracted(self, folder: Path, download: bool) -> None:
        """Extract the archive if a ``.bin`` or meta file is missing (downloading it if allowed)."""
        needed = [*self.train_files, *self.test_files, self.meta_file]
        missing = [name for name in needed if not (folder / name).is_file()]
        if not missing:
            return
        archive = self.root / self.archive
        if not download and not archive.is_file():
            what = ("none of its files" if len(missing) == len(needed)
                    else f"missing {', '.join(missing)}")
            raise DatasetNotFoundError(
                f"{self.name}: {what} in {folder}{os.sep} (the folder must hold "
                f"{', '.join(needed)}). Pass download=True, or download {self.archive} "
                f"(SHA-256 {self.archive_sha256}) from {' or '.join(self.mirrors)} and extract "
                f"it in {self.root}{os.sep} (it unpacks into {self.folder}{os.sep}).")
        ensure_files(self.root, {self.archive: self.archive_sha256}, self.mirrors,
                     download=download, dataset=self.name,
                     max_bytes={self.archive: self.archive_size})
        extract_members(archive, [f"{self.folder}/{name}" for name in needed], self.root,
                        context=self.name)

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{self.name}({split}, {len(self)} images, root={str(self.root)!r})"
