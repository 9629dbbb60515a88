"""Datasets, batches and augmentation: everything between the files on disk and ``model(x)``.

    from minicnn.data import MNIST, DataLoader, RandomCrop, train_val_split

    train_set = MNIST(train=True)                  # downloads and verifies on first use
    train_part, val_part = train_val_split(train_set, val_fraction=0.1, seed=0)
    loader = DataLoader(train_part, batch_size=64, shuffle=True,
                        transform=RandomCrop(28, padding=2))
    for x, y in loader:                            # x float32 (64, 1, 28, 28), y int64 (64,)
        ...

Modules, one job each:

* ``paths``      where datasets live: ``root=`` argument, ``$MINICNN_DATA``, ``~/.cache/minicnn``
* ``idx``        the IDX file format of MNIST-style datasets (gzip or raw)
* ``download``   fetch from mirrors, verify SHA-256, write atomically
* ``archive``    safe extraction of known members from a .tar.gz
* ``dataset``    ``ArrayDataset``: a dataset that is two arrays
* ``mnist``      ``MNIST``, ``FashionMNIST``
* ``canvases``   ``MNISTCanvases``: several MNIST digits per canvas with a per-pixel mask
* ``cifar``      ``CIFAR10`` (the binary version: nothing is unpickled)
* ``image_folder`` ``ImageFolder``: class folders of PNG/JPEG files (needs Pillow)
* ``loader``     ``DataLoader``: reproducible, resumable mini-batches
* ``transforms`` batch transforms ``t(x, rng)``: ``Normalize``, ``RandomCrop``, ... (the public
  namespace; geometric ones in ``transforms_geometric``, rotations and affine maps in
  ``transforms_affine`` over the warp of ``warp``, colour in ``transforms_color`` over ``color``)
* ``split``      ``train_val_split``

This package depends on NumPy and the standard library only (Pillow, for ``ImageFolder``, is
imported when a folder is read; tqdm, for download progress
bars, is imported when a download starts); it knows nothing of ``minicnn.nn``.
"""

from .canvases import MNISTCanvases
from .cifar import CIFAR10, read_cifar_batch, read_cifar_classes
from .dataset import ArrayDataset
from .download import download_file, sha256_of
from .errors import DatasetFileError, DatasetNotFoundError, DatasetWriteError, DownloadError
from .idx import read_idx, read_idx_images, read_idx_labels, write_idx
from .image_folder import ImageFolder
from .loader import DataLoader
from .mnist import MNIST, FashionMNIST
from .paths import data_root
from .split import train_val_split
from .transforms import (
    CenterCrop,
    ColorJitter,
    Compose,
    Normalize,
    Pad,
    PCAColorAugmentation,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    Resize,
    Transform,
    rgb_principal_components,
)

__all__ = [
    "CIFAR10", "MNIST", "ArrayDataset", "CenterCrop", "ColorJitter", "Compose", "DataLoader",
    "DatasetFileError", "DatasetNotFoundError", "DatasetWriteError", "DownloadError",
    "FashionMNIST", "ImageFolder", "MNISTCanvases", "Normalize", "PCAColorAugmentation", "Pad",
    "RandomAffine", "RandomCrop", "RandomHorizontalFlip", "RandomResizedCrop", "RandomRotation",
    "Resize", "Transform",
    "data_root", "download_file",
    "read_cifar_batch", "read_cifar_classes", "read_idx", "read_idx_images", "read_idx_labels",
    "rgb_principal_components", "sha256_of", "train_val_split", "write_idx",
]
