"""``ImageFolder``: a dataset read from class folders ``root/<class>/<image>``, as torchvision's.

    root/cat/001.png
    root/cat/002.jpg
    root/dog/xyz.jpeg

Classes are the sub-folder names, sorted; ``class_to_idx`` maps a name to its label and
``samples`` lists ``(path, label)`` in the order the images are stored (classes sorted, then
file names sorted), as torchvision. Unlike torchvision, which opens an image each time it is
indexed, every image is decoded once, at construction, into one array of the form MNIST and
CIFAR10 use: ``data`` float32 (N, C, H, W) in [0, 1], ``targets`` int64 (N,). That is what
makes it an ``ArrayDataset``, usable with ``DataLoader``, ``train_val_split`` and ``fit``; it
is meant for the small folders of a course, and ``max_bytes`` refuses a folder whose array
would not fit (checked before any pixel is decoded).

Images are converted to RGB (C = 3) by default; ``grayscale=True`` converts to Pillow's "L"
(C = 1) instead. An array needs one image size: pass ``size=`` (an int for a square, or
(H, W)) to resize every image with Pillow's bilinear filter; without it, images of different
sizes are an error naming them.
"""

from pathlib import Path

import numpy as np

from .dataset import ArrayDataset

# torchvision's IMG_EXTENSIONS that Pillow reads.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

# The same default ceiling as minicnn.io.MAX_BYTES: 2 GiB for the decoded array.
MAX_BYTES = 2**31


class ImageFolder(ArrayDataset):
    """Images in ``root/<class>/<file>``, decoded into float32 (N, C, H, W) in [0, 1].

    ``ImageFolder(root, transform=None, size=None, grayscale=False, max_bytes=MAX_BYTES)``.
    Raises FileNotFoundError for a missing root, no class folders or no image files (as
    torchvision: "Found no valid file for the classes ..."), ValueError for images of
    different sizes without ``size=`` or an array above ``max_bytes``, and
    ``DatasetFileError`` naming the file for a corrupt, truncated or oversized image
    (Pillow's ``Image.MAX_IMAGE_PIXELS`` decompression-bomb limit applies).
    """

    def __init__(self, root, transform=None, size=None, grayscale: bool = False,
                 max_bytes: int = MAX_BYTES):
        self.root = Path(root)
        self.size = _check_size(size)
        self.grayscale = bool(grayscale)
        self.classes, self.class_to_idx = find_classes(self.root)
        self.samples = make_dataset(self.root, self.class_to_idx)
        targets = np.array([label for _, label in self.samples], dtype=np.int64)
        super().__init__(self._load(max_bytes), targets, transform=transform,
                         classes=self.classes)

    def _load(self, max_bytes):
        from PIL import Image

        channels = 1 if self.grayscale else 3
        heights_widths = [_image_size(path, Image) for path, _ in self.samples]
        if self.size is None:
            distinct = sorted(set(heights_widths))
            if len(distinct) > 1:
                examples = {}
                for (path, _), hw in zip(self.samples, heights_widths, strict=True):
                    examples.setdefault(hw, path)
                listed = ", ".join(f"{p} is {h}x{w}" for (h, w), p in sorted(examples.items()))
                raise ValueError(f"ImageFolder({str(self.root)!r}): images have different "
                                 f"sizes ({listed}); pass size=(H, W) to resize them all")
            height, width = distinct[0]
        else:
            height, width = self.size
        needed = len(self.samples) * channels * height * width * 4
        if needed > max_bytes:
            raise ValueError(f"ImageFolder({str(self.root)!r}): {len(self.samples)} images of "
                             f"{channels}x{height}x{width} need {needed:,} bytes as float32, "
                             f"more than max_bytes={max_bytes:,}; pass a smaller size= or a "
                             f"larger max_bytes=")
        data = np.empty((len(self.samples), channels, height, width), dtype=np.float32)
        mode = "L" if self.grayscale else "RGB"
        for i, (path, _) in enumerate(self.samples):
            pixels = _decode(path, Image, mode, (height, width))
            data[i] = (pixels.reshape(height, width, channels).transpose(2, 0, 1)
                       / np.float32(255))
        return data

    def __repr__(self) -> str:
        return (f"ImageFolder({str(self.root)!r}, {len(self)} images of shape "
                f"{self.data.shape[1:]}, {len(self.classes)} classes)")


def find_classes(root: Path) -> tuple[list[str], dict[str, int]]:
    """The sorted class-folder names under ``root`` and ``{name: label}``, as torchvision."""
    if not root.is_dir():
        raise FileNotFoundError(f"ImageFolder: {str(root)!r} is not a folder")
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"ImageFolder: couldn't find any class folder in {str(root)!r}")
    return classes, {name: label for label, name in enumerate(classes)}


def make_dataset(root: Path, class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    """``(path, label)`` of every image file, classes in label order, files sorted within."""
    samples = []
    empty = []
    for name, label in sorted(class_to_idx.items(), key=lambda item: item[1]):
        files = sorted(p for p in (root / name).rglob("*")
                       if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
        if not files:
            empty.append(name)
        samples.extend((str(path), label) for path in files)
    if empty:
        raise FileNotFoundError(f"ImageFolder: Found no valid file for the classes "
                                f"{', '.join(empty)}. Supported extensions are: "
                                f"{', '.join(IMG_EXTENSIONS)}")
    return samples


def _image_size(path, Image):
    """(H, W) from the header only (no pixels decoded)."""
    from .errors import DatasetFileError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, Image.DecompressionBombError) as error:
        raise DatasetFileError(f"ImageFolder: cannot read image {path}: {error}") from error
    return height, width


def _decode(path, Image, mode, size):
    from .errors import DatasetFileError

    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            if image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            return np.asarray(image, dtype=np.float32)
    except (OSError, Image.DecompressionBombError) as error:
        raise DatasetFileError(f"ImageFolder: cannot read image {path}: {error}") from error


def _check_size(size):
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, tuple | list) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)):
        raise ValueError(f"ImageFolder: size must be a positive int or (H, W), got {size!r}")
    return tuple(size)
