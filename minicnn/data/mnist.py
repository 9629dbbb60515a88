"""MNIST and Fashion-MNIST: 28×28 grayscale images in 10 classes, stored as IDX files.

Both datasets ship as the same four gzip files (see ``minicnn.data.idx`` for the format)::

    <root>/mnist/train-images-idx3-ubyte.gz    60,000 training images
    <root>/mnist/train-labels-idx1-ubyte.gz    their labels
    <root>/mnist/t10k-images-idx3-ubyte.gz     10,000 test images
    <root>/mnist/t10k-labels-idx1-ubyte.gz     their labels

(``fashion-mnist/`` instead of ``mnist/`` for Fashion-MNIST; ``<root>`` as in
``minicnn.data.paths``). The files are verified against their published SHA-256 every time they
are loaded, and downloaded from the mirrors in ``MNIST.mirrors`` when missing.
"""

import os
from typing import ClassVar

import numpy as np

from .dataset import ArrayDataset, bytes_to_unit_float
from .download import ensure_files
from .errors import DatasetFileError
from .idx import read_idx_images, read_idx_labels
from .paths import data_root

IMAGE_SIZE = (28, 28)
NUM_CLASSES = 10


class _IDXDataset(ArrayDataset):
    """A 10-class dataset of 28×28 grayscale images in four IDX files (MNIST's layout).

    After loading: ``data`` float32 (N, 1, 28, 28) in [0, 1], ``targets`` int64 (N,).
    Subclasses set the class attributes below.
    """

    name: ClassVar[str]                  # for messages, e.g. "MNIST"
    folder: ClassVar[str]                # sub-folder of the data root
    classes: ClassVar[tuple[str, ...]]   # class names, classes[k] names label k
    mirrors: ClassVar[list[str]]         # base URLs tried in turn; replace to use your own
    resources: ClassVar[dict[str, str]]  # file name -> SHA-256 of the .gz file
    sizes: ClassVar[dict[str, int]]      # file name -> its size in bytes (a download stops past it)

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = True, transform=None):
        self.root = data_root(root)
        self.train = train
        folder = self.root / self.folder
        prefix = "train" if train else "t10k"
        images_file = f"{prefix}-images-idx3-ubyte.gz"
        labels_file = f"{prefix}-labels-idx1-ubyte.gz"
        split = f"{self.name} ({'train' if train else 'test'})"
        ensure_files(folder, {name: self.resources[name] for name in (images_file, labels_file)},
                     self.mirrors, download=download, dataset=split, max_bytes=self.sizes)

        images = read_idx_images(folder / images_file)
        labels = read_idx_labels(folder / labels_file)
        if len(images) != len(labels):
            raise DatasetFileError(
                f"{split}: {folder / images_file} holds {len(images):,} images but "
                f"{folder / labels_file} holds {len(labels):,} labels; the two files must "
                f"belong together")
        if images.shape[1:] != IMAGE_SIZE:
            raise DatasetFileError(
                f"{split}: {folder / images_file}: expected 28×28 images, got "
                f"{images.shape[1]}×{images.shape[2]}")
        if len(labels) and labels.max() >= NUM_CLASSES:
            raise DatasetFileError(
                f"{split}: {folder / labels_file}: expected labels 0–{NUM_CLASSES - 1}, "
                f"found {labels.max()}")

        super().__init__(bytes_to_unit_float(images)[:, None],  # add the channel axis
                         labels.astype(np.int64), transform=transform, classes=self.classes)

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{self.name}({split}, {len(self)} images, root={str(self.root)!r})"


class MNIST(_IDXDataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, classes "0".."9".

    ``MNIST(root=None, train=True, download=True, transform=None)``; ``data`` is float32
    (N, 1, 28, 28) in [0, 1], ``targets`` int64 (N,). Files live in ``<root>/mnist/``.
    """

    name = "MNIST"
    folder = "mnist"
    classes = tuple(str(digit) for digit in range(10))
    mirrors: ClassVar[list[str]] = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    resources: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }
    sizes: ClassVar[dict[str, int]] = {
        "train-images-idx3-ubyte.gz": 9_912_422, "train-labels-idx1-ubyte.gz": 28_881,
        "t10k-images-idx3-ubyte.gz": 1_648_877, "t10k-labels-idx1-ubyte.gz": 4_542,
    }


class FashionMNIST(_IDXDataset):
    """Zalando's Fashion-MNIST: MNIST's format and sizes, 10 kinds of clothing.

    ``FashionMNIST(root=None, train=True, download=True, transform=None)``; files live in
    ``<root>/fashion-mnist/``.
    """

    name = "Fashion-MNIST"
    folder = "fashion-mnist"
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    mirrors: ClassVar[list[str]] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }
    sizes: ClassVar[dict[str, int]] = {
        "train-images-idx3-ubyte.gz": 26_421_880, "train-labels-idx1-ubyte.gz": 29_515,
        "t10k-images-idx3-ubyte.gz": 4_422_102, "t10k-labels-idx1-ubyte.gz": 5_148,
    }
