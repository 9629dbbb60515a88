"""Segmentation metrics over pixels: confusion matrix, pixel accuracy, IoU and Dice.

Each pixel is one sample: for a true label map and a predicted one (any shape, e.g. (N, H, W)),
the confusion matrix over pixels counts ``C[i, j]`` = pixels of true class i predicted as j, and
everything else follows from it, per class c:

    TP_c = C[c, c]     FP_c = Σ_i C[i, c] − TP_c     FN_c = Σ_j C[c, j] − TP_c

    pixel accuracy = Σ_c TP_c / Σ C                      (the fraction of pixels right)
    IoU_c  = TP_c / (TP_c + FP_c + FN_c)                  (Jaccard: |T ∩ P| / |T ∪ P|)
    Dice_c = 2·TP_c / (2·TP_c + FP_c + FN_c)              (F1: 2|T ∩ P| / (|T| + |P|))
    mean IoU = the mean of IoU_c over the classes that occur (true or predicted)

A class that is neither true nor predicted anywhere has IoU and Dice 0/0: NaN per class, and
left out of the means (the usual convention of segmentation benchmarks; scikit-learn's
``jaccard_score`` instead sets it to ``zero_division``). Pixel accuracy is dominated by the
background when the objects are small; mean IoU weighs every class the same.

``ignore_index`` (as in ``nn.CrossEntropyLoss``): pixels whose *true* label is this value
(unlabelled or border pixels) are left out of every count. ``y_pred`` may be label maps of
``y_true``'s shape or scores (N, C, ...) such as a network's logits; their argmax over axis 1 is
the prediction.
"""

import numpy as np

__all__ = ["dice_score", "iou_score", "mean_iou", "pixel_accuracy", "pixel_confusion_matrix"]


def _label_maps(y_true, y_pred, num_classes, ignore_index, where: str):
    """The true and predicted labels of the pixels that count, as two flat int64 arrays;
    ``num_classes=None`` skips the range check."""
    if num_classes is not None and (isinstance(num_classes, bool)
                                    or not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"{where}: expected num_classes as an int >= 1, got {num_classes!r}")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_pred.ndim == y_true.ndim + 1 and y_pred.ndim >= 2:  # scores (N, C, ...): take argmax
        if num_classes is not None and y_pred.shape[1] != num_classes:
            raise ValueError(f"{where}: expected scores with {num_classes} classes along axis 1, "
                             f"got shape {y_pred.shape}")
        y_pred = np.argmax(y_pred, axis=1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{where}: expected y_pred of y_true's shape {y_true.shape} (or scores "
                         f"(N, C, ...)), got shape {y_pred.shape}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.dtype.kind not in "iub":
            raise TypeError(f"{where}: expected integer class labels in {name}, got dtype "
                            f"{y.dtype}")
    y_true, y_pred = y_true.ravel().astype(np.int64), y_pred.ravel().astype(np.int64)
    if ignore_index is not None:
        keep = y_true != ignore_index
        y_true, y_pred = y_true[keep], y_pred[keep]
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if num_classes is None:
            break
        bad = (y < 0) | (y >= num_classes)
        if bad.any():
            raise ValueError(f"{where}: expected labels in [0, {num_classes}) in {name}"
                             + ("" if ignore_index is None else
                                f" (or ignore_index={ignore_index} in y_true)")
                             + f", got {int(y[bad][0])}")
    return y_true, y_pred


def pixel_confusion_matrix(y_true, y_pred, num_classes: int, *, ignore_index=None) -> np.ndarray:
    """(num_classes, num_classes) int64 counts: ``C[i, j]`` = pixels of true class i predicted j.

    The same matrix as ``metrics.confusion_matrix(y_true.ravel(), y_pred.ravel(),
    labels=range(num_classes))``, counted with one ``bincount`` of ``i·K + j``.
    """
    return _confusion(y_true, y_pred, num_classes, ignore_index, "pixel_confusion_matrix")


def _confusion(y_true, y_pred, num_classes, ignore_index, where: str) -> np.ndarray:
    t, p = _label_maps(y_true, y_pred, num_classes, ignore_index, where)
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def pixel_accuracy(y_true, y_pred, *, ignore_index=None) -> float:
    """The fraction of (not ignored) pixels whose predicted label is the true one."""
    t, p = _label_maps(y_true, y_pred, None, ignore_index, "pixel_accuracy")
    if t.size == 0:
        raise ValueError("pixel_accuracy: no pixels to score (all are ignore_index or the "
                         "maps are empty)")
    return float(np.mean(t == p))


def _per_class(confusion: np.ndarray):
    tp = np.diag(confusion).astype(np.float64)
    return tp, confusion.sum(axis=0) - tp, confusion.sum(axis=1) - tp  # TP, FP, FN


def _divide_or_nan(numerator, denominator) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1),
                        np.nan)


def _reduce(per_class: np.ndarray, average, where: str):
    if average is None:
        return per_class
    if average != "macro":
        raise ValueError(f"{where}: expected average None (per class) or 'macro' (the mean over "
                         f"the classes that occur), got {average!r}")
    present = ~np.isnan(per_class)
    return float(np.mean(per_class[present])) if present.any() else float("nan")


def iou_score(y_true, y_pred, num_classes: int, *, average=None, ignore_index=None):
    """IoU_c = TP / (TP + FP + FN) per class (``average=None``: an array, NaN for a class
    neither true nor predicted), or their mean over the classes that occur (``"macro"``)."""
    return _iou(y_true, y_pred, num_classes, average, ignore_index, "iou_score")


def _iou(y_true, y_pred, num_classes, average, ignore_index, where):
    tp, fp, fn = _per_class(_confusion(y_true, y_pred, num_classes, ignore_index, where))
    return _reduce(_divide_or_nan(tp, tp + fp + fn), average, where)


def mean_iou(y_true, y_pred, num_classes: int, *, ignore_index=None) -> float:
    """Mean intersection over union, the usual score of semantic segmentation:
    ``iou_score(..., average="macro")``."""
    return _iou(y_true, y_pred, num_classes, "macro", ignore_index, "mean_iou")


def dice_score(y_true, y_pred, num_classes: int, *, average=None, ignore_index=None):
    """Dice_c = 2·TP / (2·TP + FP + FN) per class (the F1 score of its pixels), or the mean over
    the classes that occur with ``average="macro"``. Dice = 2·IoU / (1 + IoU) per class."""
    where = "dice_score"
    tp, fp, fn = _per_class(_confusion(y_true, y_pred, num_classes, ignore_index, where))
    return _reduce(_divide_or_nan(2 * tp, 2 * tp + fp + fn), average, where)
