"""``F.explain_conv`` and ``F.explain_pool``: one output worked out in print.

Checked against the decks' numbers: the three-channel example whose channel sums are
308, −498 and 164 with bias 1 (308 − 498 + 164 + 1 = −25), and the 5×5 ⊛ 3×3 example whose
first output is 4; every position's value equals ``conv2d_forward``'s output (both engines'
``F``) with stride and padding; the max-pool explanation picks the first maximum, the one
that receives the gradient. Errors: a position outside the output, shapes that do not fit.
"""

import io

import numpy as np
import pytest

from minicnn import functional as reference

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

# The decks' RGB example: the top-left 3×3 corner of each channel, padded by one pixel of zeros.
RED = [[156, 155, 156], [153, 154, 157], [149, 151, 155]]
GREEN = [[167, 166, 167], [164, 165, 168], [160, 162, 166]]
BLUE = [[163, 162, 163], [160, 161, 164], [156, 158, 162]]
KERNEL = [[[-1, -1, 1], [0, 1, -1], [0, 1, 1]],
          [[1, 0, 0], [1, -1, -1], [1, 0, -1]],
          [[0, 1, 1], [0, 1, 0], [1, -1, 1]]]


def test_the_three_channel_example_gives_minus_25():
    x = np.array([[RED, GREEN, BLUE]], dtype=np.float64)
    w = np.array([KERNEL], dtype=np.float64)
    printed = io.StringIO()
    got = reference.explain_conv(x, w, np.array([1.0]), at=(0, 0, 0, 0), padding=1, file=printed)
    np.testing.assert_array_equal(got.channel_sums, [308, -498, 164])
    assert got.bias == 1 and got.value == -25
    assert "= 308 − 498 + 164 + 1 = -25" in printed.getvalue()
    assert "sum 308" in printed.getvalue() and "sum -498" in printed.getvalue()
    out, _ = F.conv2d_forward(x, w, np.array([1.0]), padding=1)
    assert out[0, 0, 0, 0] == -25


def test_the_5x5_example_gives_4_first_and_every_position_matches_conv2d():
    image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0],
                      [0, 1, 1, 0, 0]], dtype=np.float64)[None, None]
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float64)[None, None]
    out, _ = F.conv2d_forward(image, kernel)
    np.testing.assert_array_equal(out[0, 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    for i in range(3):
        for j in range(3):
            got = reference.explain_conv(image, kernel, at=(0, 0, i, j), file=io.StringIO())
            assert got.value == out[0, 0, i, j]


def test_every_position_matches_conv2d_with_stride_padding_and_channels():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2)), \
        rng.standard_normal(4)
    out, _ = F.conv2d_forward(x, w, b, stride=2, padding=1)
    for index in np.ndindex(out.shape):
        got = reference.explain_conv(x, w, b, at=index, stride=2, padding=1, file=io.StringIO())
        assert got.value == pytest.approx(out[index], rel=1e-12, abs=1e-12)


def test_max_pool_explanation_picks_the_first_maximum_and_matches_the_layer():
    x = np.array([[[[1, 3, 3, 0], [2, 0, 1, 4], [5, 5, 0, 1], [0, 2, 1, 1]]]], dtype=np.float64)
    printed = io.StringIO()
    got = reference.explain_pool(x, 2, at=(0, 0, 0, 0), file=printed)
    assert got.value == 3 and got.argmax == (0, 1)  # the first of the two 3s, row-major
    assert "[3]" in printed.getvalue()
    out, _ = F.max_pool2d_forward(x, 2)
    for i in range(2):
        for j in range(2):
            assert reference.explain_pool(x, 2, at=(0, 0, i, j),
                                          file=io.StringIO()).value == out[0, 0, i, j]
    avg = reference.explain_pool(x, 2, at=(0, 0, 1, 0), mode="avg", file=io.StringIO())
    assert avg.value == (5 + 5 + 0 + 2) / 4


def test_bad_positions_and_shapes_are_errors():
    x, w = np.zeros((1, 2, 4, 4)), np.zeros((3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"explain_conv: expected at = \(n, o, i, j\) inside "
                                         r"the output of shape \(1, 3, 2, 2\), got \(0, 3, 0, 0\)"):
        reference.explain_conv(x, w, at=(0, 3, 0, 0))
    with pytest.raises(ValueError, match=r"same C, got shapes \(1, 2, 4, 4\) and \(3, 1, 3, 3\)"):
        reference.explain_conv(x, np.zeros((3, 1, 3, 3)))
    with pytest.raises(ValueError, match="explain_pool: expected mode 'max' or 'avg', got 'min'"):
        reference.explain_pool(x, 2, mode="min")
