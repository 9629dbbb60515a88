"""Segmentation metrics over pixels, and jaccard_score.

What is checked:
- pixel_confusion_matrix against a loop over the pixels, and against metrics.confusion_matrix
  and scikit-learn's on the flattened maps; ignore_index drops the pixels of that true label;
- pixel_accuracy, iou_score, dice_score and mean_iou against their definitions computed by
  loops over classes and pixels (|T ∩ P| / |T ∪ P|, 2|T ∩ P| / (|T| + |P|)), and against
  scikit-learn's jaccard_score and f1_score per class; absent classes are NaN and left out of
  the means; scores (N, C, H, W) are read through their argmax; Dice = 2·IoU / (1 + IoU);
- jaccard_score (scikit-learn's API) against scikit-learn for every average;
- errors: shapes that differ, labels outside [0, num_classes), float labels, a bad average.
"""

import numpy as np
import pytest
from sklearn import metrics as sk

from minicnn import metrics


def _maps(seed, shape=(3, 7, 9), k=4):
    rng = np.random.default_rng(seed)
    return rng.integers(0, k, shape), rng.integers(0, k, shape)


def test_confusion_matrix_by_a_loop_and_by_sklearn():
    y_true, y_pred = _maps(0)
    expected = np.zeros((4, 4), np.int64)
    for t, p in zip(y_true.ravel(), y_pred.ravel(), strict=True):
        expected[t, p] += 1
    got = metrics.pixel_confusion_matrix(y_true, y_pred, 4)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, sk.confusion_matrix(y_true.ravel(), y_pred.ravel(),
                                                           labels=range(4)))
    np.testing.assert_array_equal(got, metrics.confusion_matrix(y_true.ravel(), y_pred.ravel(),
                                                                labels=range(4)))


def _by_definition(y_true, y_pred, k, ignore_index=None):
    keep = np.ones(y_true.shape, bool) if ignore_index is None else y_true != ignore_index
    iou, dice = [], []
    for c in range(k):
        t, p = (y_true == c) & keep, (y_pred == c) & keep
        inter, union = np.sum(t & p), np.sum(t | p)
        iou.append(inter / union if union else np.nan)
        dice.append(2 * inter / (t.sum() + p.sum()) if union else np.nan)
    accuracy = np.sum((y_true == y_pred) & keep) / keep.sum()
    return accuracy, np.array(iou), np.array(dice)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_by_definition_and_by_sklearn(seed):
    y_true, y_pred = _maps(seed)
    accuracy, iou, dice = _by_definition(y_true, y_pred, 4)
    assert metrics.pixel_accuracy(y_true, y_pred) == pytest.approx(accuracy, abs=1e-15)
    np.testing.assert_allclose(metrics.iou_score(y_true, y_pred, 4), iou, rtol=1e-14)
    np.testing.assert_allclose(metrics.dice_score(y_true, y_pred, 4), dice, rtol=1e-14)
    assert metrics.mean_iou(y_true, y_pred, 4) == pytest.approx(np.mean(iou), rel=1e-14)
    assert metrics.dice_score(y_true, y_pred, 4, average="macro") == pytest.approx(np.mean(dice))
    flat = y_true.ravel(), y_pred.ravel()
    np.testing.assert_allclose(iou, sk.jaccard_score(*flat, average=None), rtol=1e-14)
    np.testing.assert_allclose(dice, sk.f1_score(*flat, average=None), rtol=1e-14)
    assert accuracy == pytest.approx(sk.accuracy_score(*flat))
    np.testing.assert_allclose(dice, 2 * iou / (1 + iou), rtol=1e-14)


def test_ignore_index_drops_those_true_pixels():
    y_true, y_pred = _maps(3, k=3)
    y_true[0, :3] = 255
    y_pred[0, :3] = 0  # predictions at ignored pixels do not count either
    accuracy, iou, dice = _by_definition(y_true, y_pred, 3, ignore_index=255)
    assert metrics.pixel_accuracy(y_true, y_pred, ignore_index=255) == pytest.approx(accuracy)
    np.testing.assert_allclose(metrics.iou_score(y_true, y_pred, 3, ignore_index=255), iou)
    np.testing.assert_allclose(metrics.dice_score(y_true, y_pred, 3, ignore_index=255), dice)
    kept = y_true != 255
    np.testing.assert_array_equal(
        metrics.pixel_confusion_matrix(y_true, y_pred, 3, ignore_index=255),
        sk.confusion_matrix(y_true[kept], y_pred[kept], labels=range(3)))
    with pytest.raises(ValueError, match=r"^iou_score: expected labels in \[0, 3\) in y_true, "
                                         r"got 255"):
        metrics.iou_score(y_true, y_pred, 3)


def test_absent_class_is_nan_and_left_out_of_the_mean():
    y_true = np.array([[0, 0, 1, 1]])
    y_pred = np.array([[0, 1, 1, 1]])
    iou = metrics.iou_score(y_true, y_pred, 3)
    assert iou[0] == pytest.approx(1 / 2) and iou[1] == pytest.approx(2 / 3)
    assert np.isnan(iou[2])
    assert metrics.mean_iou(y_true, y_pred, 3) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert metrics.mean_iou(y_true, y_true, 3) == 1.0


def test_scores_are_read_through_their_argmax():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((2, 3, 5, 6))
    y_true = rng.integers(0, 3, (2, 5, 6))
    labels = logits.argmax(axis=1)
    assert metrics.mean_iou(y_true, logits, 3) == metrics.mean_iou(y_true, labels, 3)
    assert metrics.pixel_accuracy(y_true, logits) == metrics.pixel_accuracy(y_true, labels)
    with pytest.raises(ValueError, match=r"^mean_iou: expected scores with 4 classes along "
                                         r"axis 1, got shape \(2, 3, 5, 6\)"):
        metrics.mean_iou(y_true, logits, 4)


@pytest.mark.parametrize("average", [None, "binary", "micro", "macro", "weighted"])
def test_jaccard_score_matches_sklearn(average):
    rng = np.random.default_rng(5)
    k = 2 if average == "binary" else 4
    y_true, y_pred = rng.integers(0, k, 60), rng.integers(0, k, 60)
    np.testing.assert_allclose(metrics.jaccard_score(y_true, y_pred, average=average),
                               sk.jaccard_score(y_true, y_pred, average=average), rtol=1e-14)


def test_jaccard_zero_division_warns_as_sklearn():
    with pytest.warns(metrics.UndefinedMetricWarning, match="Jaccard is ill-defined"):
        assert metrics.jaccard_score([0, 0], [0, 0], labels=[0, 1], average=None)[1] == 0.0


def test_errors():
    y_true, y_pred = _maps(6)
    with pytest.raises(ValueError, match=r"^pixel_accuracy: expected y_pred of y_true's shape "
                                         r"\(3, 7, 9\) \(or scores \(N, C, \.\.\.\)\), got shape "
                                         r"\(3, 7, 8\)"):
        metrics.pixel_accuracy(y_true, y_pred[:, :, :8])
    with pytest.raises(ValueError, match=r"^dice_score: expected labels in \[0, 3\) in y_pred, "
                                         r"got 3"):
        metrics.dice_score(np.minimum(y_true, 2), y_pred, 3)
    with pytest.raises(TypeError, match=r"^iou_score: expected integer class labels in y_pred, "
                                        r"got dtype float64"):
        metrics.iou_score(y_true, y_pred.astype(float)[None][0] + 0.5, 4)
    with pytest.raises(ValueError, match=r"^iou_score: expected average None \(per class\) or "
                                         r"'macro'"):
        metrics.iou_score(y_true, y_pred, 4, average="micro")
    with pytest.raises(ValueError, match=r"^pixel_confusion_matrix: expected num_classes as an "
                                         r"int >= 1, got 0"):
        metrics.pixel_confusion_matrix(y_true, y_pred, 0)
    with pytest.raises(ValueError, match=r"^pixel_accuracy: no pixels to score"):
        metrics.pixel_accuracy(np.full((2, 2), 255), np.zeros((2, 2), int), ignore_index=255)
