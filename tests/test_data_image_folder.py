"""ImageFolder: class folders of tiny PNG/JPEG files written with Pillow into tmp_path.

Checked: classes sorted, class_to_idx and samples as torchvision; data float32 (N, C, H, W)
in [0, 1] with the exact pixel values of a PNG; grayscale=True gives C = 1; size= resizes;
it works with DataLoader. Errors: mixed sizes without size= (ValueError naming the files),
a corrupt file (DatasetFileError naming it), an empty class (FileNotFoundError "Found no
valid file"), no class folder, max_bytes exceeded before decoding.
"""

import numpy as np
import pytest
from PIL import Image

from minicnn.data import DataLoader, DatasetFileError, ImageFolder


def _write(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    pixels = {}
    for name in ("dog", "cat"):
        for i, ext in enumerate((".png", ".png")):
            image = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
            pixels[(name, i)] = image
            _write(tmp_path / name / f"{i}{ext}", image)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    return tmp_path, pixels


def test_classes_samples_and_pixels(folder):
    root, pixels = folder
    dataset = ImageFolder(root)
    assert dataset.classes == ["cat", "dog"]
    assert dataset.class_to_idx == {"cat": 0, "dog": 1}
    assert [(p.split("/")[-2], p.split("/")[-1], t) for p, t in dataset.samples] == [
        ("cat", "0.png", 0), ("cat", "1.png", 0), ("dog", "0.png", 1), ("dog", "1.png", 1)]
    assert dataset.data.dtype == np.float32 and dataset.data.shape == (4, 3, 4, 5)
    expected = pixels[("dog", 1)].transpose(2, 0, 1) / np.float32(255)
    np.testing.assert_array_equal(dataset.data[3], expected)
    assert dataset.targets.tolist() == [0, 0, 1, 1]
    x, y = next(iter(DataLoader(dataset, batch_size=4)))
    assert x.shape == (4, 3, 4, 5) and sorted(y.tolist()) == [0, 0, 1, 1]


def test_grayscale_and_size(folder):
    root, _ = folder
    _write(root / "cat" / "big.jpg", np.full((8, 9, 3), 200, dtype=np.uint8))
    dataset = ImageFolder(root, size=(6, 7), grayscale=True)
    assert dataset.data.shape == (5, 1, 6, 7)
    assert abs(dataset.data[2].mean() - 200 / 255) < 3 / 255  # the constant JPEG, resized
    assert ImageFolder(root, size=3).data.shape == (5, 3, 3, 3)


def test_mixed_sizes_need_size(folder):
    root, _ = folder
    _write(root / "dog" / "odd.png", np.zeros((6, 6, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"different sizes.*odd\.png is 6x6.*pass size="):
        ImageFolder(root)


def test_corrupt_file_is_named(folder):
    root, _ = folder
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetFileError, match=r"broken\.png"):
        ImageFolder(root)


def test_empty_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        ImageFolder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="class folder"):
        ImageFolder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes empty"):
        ImageFolder(tmp_path)


def test_max_bytes_refused_before_decoding(folder):
    root, _ = folder
    with pytest.raises(ValueError, match="max_bytes=100"):
        ImageFolder(root, max_bytes=100)
    with pytest.raises(ValueError, match="size must be"):
        ImageFolder(root, size=(0, 3))
