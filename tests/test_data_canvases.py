"""data.MNISTCanvases: segmentation canvases made of real MNIST digits.

What is checked (on the real MNIST files of $MINICNN_DATA):
- shapes and dtypes: data float32 (n, 1, size, size) in [0, 1], targets int64 (n, size, size);
- the same seed gives the same canvases, another seed others;
- each canvas rebuilt from its placements: the digit of MNIST index i (of the canvas's own split,
  train or test) pasted as its ink box at (top, left), boxes not overlapping, 2 to 4 digits; the
  mask is 1 + d exactly where digit d's intensity is above the threshold, 0 elsewhere;
- binary=True gives labels 0/1 only; classes name the labels;
- errors for a canvas smaller than a digit, bad digit counts, thresholds and n.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from minicnn import data

DATA_DIR = Path(os.environ.get("MINICNN_DATA")
                or Path(__file__).resolve().parents[2] / "shared" / "data")
# As tests/test_examples_deep.py: skip only where the data are absent and $MINICNN_DATA unset.
pytestmark = pytest.mark.skipif(
    not (DATA_DIR / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    and "MINICNN_DATA" not in os.environ, reason="MNIST not available")


@pytest.fixture(scope="module")
def mnist():
    return (data.MNIST(DATA_DIR, train=True, download=False),
            data.MNIST(DATA_DIR, train=False, download=False))


def test_shapes_dtypes_and_classes():
    canvases = data.MNISTCanvases(DATA_DIR, n=20, size=64, seed=0, download=False)
    assert canvases.data.shape == (20, 1, 64, 64) and canvases.data.dtype == np.float32
    assert canvases.targets.shape == (20, 64, 64) and canvases.targets.dtype == np.int64
    assert 0 <= canvases.data.min() and canvases.data.max() <= 1
    assert canvases.classes == ["background", *[str(d) for d in range(10)]]
    assert canvases.num_classes == 11 and canvases.targets.max() <= 10
    assert all(2 <= len(digits) <= 4 for digits in canvases.digit_labels)
    image, mask = canvases[3]
    assert image.shape == (1, 64, 64) and mask.shape == (64, 64)
    assert repr(canvases) == "MNISTCanvases(train, 20 canvases of 64×64, 11 classes, seed=0)"


def test_seeded():
    a = data.MNISTCanvases(DATA_DIR, n=5, seed=1, download=False)
    b = data.MNISTCanvases(DATA_DIR, n=5, seed=1, download=False)
    c = data.MNISTCanvases(DATA_DIR, n=5, seed=2, download=False)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.data, c.data)


def _ink_box(digit):
    rows, cols = np.nonzero(digit)
    return digit[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


@pytest.mark.parametrize("train", [True, False])
def test_canvases_rebuilt_from_their_placements(mnist, train):
    source = mnist[0] if train else mnist[1]
    canvases = data.MNISTCanvases(DATA_DIR, train=train, n=8, size=64, threshold=0.5, seed=3,
                                  download=False)
    for k in range(8):
        image, mask = canvases.data[k, 0], canvases.targets[k]
        expected_image, expected_mask, boxes = np.zeros_like(image), np.zeros_like(mask), []
        assert 2 <= len(canvases.placements[k]) <= 4
        for (index, top, left), label in zip(canvases.placements[k], canvases.digit_labels[k],
                                             strict=True):
            assert label == source.targets[index]  # the digit comes from this split
            ink = _ink_box(source.data[index, 0])
            h, w = ink.shape
            for t, le, hh, ww in boxes:  # ink boxes do not overlap
                assert top >= t + hh or t >= top + h or left >= le + ww or le >= left + w
            boxes.append((top, left, h, w))
            expected_image[top:top + h, left:left + w] = ink
            expected_mask[top:top + h, left:left + w][ink > 0.5] = 1 + label
        np.testing.assert_array_equal(image, expected_image)
        np.testing.assert_array_equal(mask, expected_mask)
        np.testing.assert_array_equal(mask > 0, image > 0.5)


def test_binary_masks():
    canvases = data.MNISTCanvases(DATA_DIR, n=4, binary=True, seed=0, download=False)
    assert set(np.unique(canvases.targets)) == {0, 1}
    assert canvases.classes == ["background", "digit"]
    np.testing.assert_array_equal(canvases.targets == 1, canvases.data[:, 0] > 0.5)


def test_errors():
    with pytest.raises(ValueError, match=r"^MNISTCanvases: expected size as an int >= 28"):
        data.MNISTCanvases(DATA_DIR, size=20, download=False)
    with pytest.raises(ValueError, match=r"^MNISTCanvases: expected digits as \(fewest, most\)"):
        data.MNISTCanvases(DATA_DIR, digits=(3, 2), download=False)
    with pytest.raises(ValueError, match=r"^MNISTCanvases: expected threshold in \[0, 1\)"):
        data.MNISTCanvases(DATA_DIR, threshold=1.0, download=False)
    with pytest.raises(ValueError, match=r"^MNISTCanvases: expected n as an int >= 1"):
        data.MNISTCanvases(DATA_DIR, n=0, download=False)
