"""Classification metrics with scikit-learn's names, arguments and results, in plain NumPy.

Everything starts from four counts per class ``c``, over the samples:

    TP_c  true positives    true label c, predicted c
    FP_c  false positives   predicted c, true label something else
    FN_c  false negatives   true label c, predicted something else
    support_c = TP_c + FN_c   how many samples truly belong to c

and the per-class scores

    precision_c = TP_c / (TP_c + FP_c)          of the samples predicted c, the fraction that are c
    recall_c    = TP_c / (TP_c + FN_c)          of the samples that are c, the fraction found
    F1_c        = 2·P·R / (P + R) = 2·TP_c / (2·TP_c + FP_c + FN_c)

``average`` turns the per-class scores into one number:

    None        the per-class array itself
    "macro"     the plain mean over classes: every class counts the same, however rare
    "weighted"  the mean weighted by support: frequent classes count more
    "micro"     sum TP, FP and FN over the classes first, then divide; for single-label
                multiclass data micro precision = micro recall = micro F1 = accuracy
    "binary"    (the default, as in scikit-learn) the score of class ``pos_label`` alone;
                only for data with at most two distinct labels

A precision whose class was never predicted (TP + FP = 0), or a recall whose class never occurs
(TP + FN = 0), is 0/0. As in scikit-learn, ``zero_division="warn"`` (the default) sets it to 0.0
*and* issues an ``UndefinedMetricWarning``: the warning is worth seeing in a CNN course, because
it usually means the network predicts only some of the classes (it has collapsed, or the learning
rate is too high). ``zero_division=0.0`` or ``1.0`` sets the value without a warning;
``zero_division=np.nan`` leaves such classes out of the averages.

Labels are integers (the usual class indices), integral floats, booleans or strings; as in
scikit-learn, non-integral floats (probabilities, scores) and 2-D arrays are refused with a
``ValueError``: take ``scores.argmax(axis=1)`` first.

Differences from scikit-learn, all where scikit-learn accepts something doubtful:
no ``sample_weight``; multilabel (2-D indicator) targets are refused; duplicate entries in
``labels`` are an error; in ``classification_report`` a ``target_names`` list whose length differs
from the number of labels is always an error (scikit-learn only warns when ``labels`` is given);
``top_k_accuracy_score`` reads column ``j`` of the scores as class ``j`` when ``labels`` is None.

Segmentation (``minicnn.segmentation_metrics``, re-exported here): ``pixel_confusion_matrix``,
``pixel_accuracy``, ``iou_score``, ``mean_iou`` and ``dice_score`` on label maps of any shape,
with ``ignore_index``; ``jaccard_score`` is scikit-learn's IoU on 1-D labels.
"""

import re
import warnings

import numpy as np

# Segmentation over pixels lives in its own module; here so that ``metrics`` holds every metric.
from .segmentation_metrics import (
    dice_score,
    iou_score,
    mean_iou,
    pixel_accuracy,
    pixel_confusion_matrix,
)

__all__ = [
    "ClassificationReport", "UndefinedMetricWarning", "accuracy_score", "classification_report",
    "confusion_matrix",
    "dice_score", "f1_score", "iou_score", "jaccard_score", "mean_iou", "pixel_accuracy",
    "pixel_confusion_matrix", "precision_recall_fscore_support", "precision_score",
    "recall_score", "top_k_accuracy", "top_k_accuracy_score",
]

_AVERAGES = (None, "binary", "micro", "macro", "weighted")


class UndefinedMetricWarning(UserWarning):
    """A precision, recall or F-score was 0/0 and has been replaced (see ``zero_division``)."""


# -- checking the inputs ---------------------------------------------------------------------------
def _as_labels(y, name: str, where: str) -> np.ndarray:
    """``y`` as a 1-D array of class labels; ValueError for anything else."""
    y = np.asarray(y)
    if y.ndim != 1:
        hint = (" (for class scores of shape (n, classes) take y.argmax(axis=1) first; "
                "for a column (n, 1) use y.ravel())") if y.ndim == 2 else ""
        raise ValueError(f"{where}: expected {name} as a 1-D array of class labels, got shape "
                         f"{y.shape}{hint}")
    if y.dtype.kind == "f":
        integral = np.isfinite(y) & (y == np.round(y))
        if not integral.all():
            bad = y[~integral][0]
            raise ValueError(f"{where}: expected class labels in {name}, got continuous values "
                             f"such as {bad}; if these are probabilities or scores, take "
                             f"argmax over the classes first")
    elif y.dtype.kind not in "biuUS":
        raise ValueError(f"{where}: expected {name} of integer or string class labels, "
                         f"got dtype {y.dtype}")
    return y


def _is_text(y: np.ndarray) -> bool:
    return y.dtype.kind in "US"


def _check_targets(y_true, y_pred, where: str):
    """Validate a pair of label arrays; returns them with the sorted labels present in either."""
    y_true = _as_labels(y_true, "y_true", where)
    y_pred = _as_labels(y_pred, "y_pred", where)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{where}: y_true and y_pred must have the same length, got "
                         f"{len(y_true)} and {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError(f"{where}: y_true and y_pred are empty; at least one sample is needed")
    if _is_text(y_true) != _is_text(y_pred):
        raise ValueError(f"{where}: y_true and y_pred mix string and number labels "
                         f"({y_true.dtype} and {y_pred.dtype})")
    present = np.unique(np.concatenate([y_true, y_pred]))
    return y_true, y_pred, present


def _check_label_list(labels, present: np.ndarray, where: str) -> np.ndarray:
    """The labels to report on: the given ones (validated) or, if None, the present ones."""
    if labels is None:
        return present
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"{where}: expected labels as a non-empty 1-D list, got {labels!r}")
    if _is_text(labels) != _is_text(present):
        raise ValueError(f"{where}: labels and y mix string and number labels")
    if len(np.unique(labels)) != len(labels):
        raise ValueError(f"{where}: labels contains duplicates: {labels.tolist()}")
    return labels


def _encode(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The position of each entry of ``y`` in ``labels`` (not necessarily sorted); -1 if absent."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    position = np.searchsorted(sorted_labels, y).clip(max=len(labels) - 1)
    found = sorted_labels[position] == y
    return np.where(found, order[position], -1)


# -- accuracy and the confusion matrix -------------------------------------------------------------
def accuracy_score(y_true, y_pred, *, normalize: bool = True) -> float:
    """The fraction of samples whose predicted label equals the true one.

    accuracy = (1/n) · Σ_i [y_pred_i = y_true_i]; with ``normalize=False``, the count of correct
    predictions instead.
    """
    y_true, y_pred, _ = _check_targets(y_true, y_pred, "accuracy_score")
    correct = y_true == y_pred
    return float(correct.mean()) if normalize else int(correct.sum())


def confusion_matrix(y_true, y_pred, *, labels=None, normalize=None) -> np.ndarray:
    """The confusion matrix C: ``C[i, j]`` counts samples of true class i predicted as class j.

    Rows are true classes, columns predicted classes, both in the order of ``labels`` (default:
    the sorted labels present in ``y_true`` or ``y_pred``); samples whose true or predicted label
    is not in ``labels`` are left out. The diagonal holds the TP_c; column sums minus the diagonal
    are the FP_c, row sums minus the diagonal the FN_c.

    ``normalize``: None (counts, int64), ``"true"`` (each row divided by its sum: the diagonal
    is the recall), ``"pred"`` (each column divided by its sum: the diagonal is the precision) or
    ``"all"`` (divided by the total). Empty rows or columns give zeros.

    Computed in one pass: the pair (true index i, predicted index j) is numbered i·k + j, so
    ``np.bincount`` of these numbers, reshaped to (k, k), is C.
    """
    where = "confusion_matrix"
    y_true, y_pred, present = _check_targets(y_true, y_pred, where)
    labels = _check_label_list(labels, present, where)
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"{where}: normalize must be None, 'true', 'pred' or 'all', "
                         f"got {normalize!r}")
    true_index, pred_index = _encode(y_true, labels), _encode(y_pred, labels)
    if not (true_index >= 0).any():
        raise ValueError(f"{where}: none of the labels {labels.tolist()} occurs in y_true")
    keep = (true_index >= 0) & (pred_index >= 0)
    k = len(labels)
    cm = np.bincount(true_index[keep] * k + pred_index[keep], minlength=k * k).reshape(k, k)
    if normalize is None:
        return cm
    axis = {"true": 1, "pred": 0, "all": None}[normalize]
    total = cm.sum(axis=axis, keepdims=axis is not None)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(cm / total)


# -- precision, recall and F1 ----------------------------------------------------------------------
def _zero_division_value(zero_division) -> float:
    """The number that replaces 0/0: 0.0 for "warn", else the given 0.0, 1.0 or NaN."""
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, (int, float, np.number)) and (
            zero_division in (0, 1) or np.isnan(zero_division)):
        return float(zero_division)
    raise ValueError(f'zero_division must be "warn", 0.0, 1.0 or np.nan, got {zero_division!r}')


def _divide(numerator, denominator, metric: str, modifier: str, warn_for, zero_division):
    """numerator / denominator, with ``zero_division`` where the denominator is 0.

    Warns as scikit-learn does, when ``zero_division="warn"`` and ``metric`` is one the caller
    reports (``warn_for``): an F1 call does not warn about an undefined precision.
    """
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    undefined = denominator == 0
    result = numerator / np.where(undefined, 1.0, denominator)
    if not undefined.any():
        return result
    result[undefined] = _zero_division_value(zero_division)
    if zero_division == "warn" and metric in warn_for:
        which = "due to" if result.size == 1 else "in labels with"
        warnings.warn(f"{metric.capitalize()} is ill-defined and being set to 0.0 {which} "
                      f"no {modifier} samples. Use `zero_division` parameter to control this "
                      f"behavior.", UndefinedMetricWarning, stacklevel=4)
    return result


def _average(scores: np.ndarray, weights=None) -> float:
    """Mean of ``scores`` ignoring NaN (classes set aside by ``zero_division=np.nan``).

    With ``weights`` (the supports), a weighted mean; if all weights are 0, the plain mean.
    """
    keep = ~np.isnan(scores)
    if not keep.any():
        return float("nan")
    if weights is not None and np.sum(weights[keep]) > 0:
        return float(np.average(scores[keep], weights=weights[keep]))
    return float(np.mean(scores[keep]))


def _counts_per_class(y_true, y_pred, labels):
    """TP_c, TP_c + FP_c (predicted c) and TP_c + FN_c (truly c) for each label c, as int arrays.

    Counted over all samples, not only those whose other label is in ``labels``: a sample of
    class 0 predicted as class 7 is a false negative of class 0 even when 7 is not reported.
    """
    k = len(labels)
    true_index, pred_index = _encode(y_true, labels), _encode(y_pred, labels)
    true_sum = np.bincount(true_index[true_index >= 0], minlength=k)
    pred_sum = np.bincount(pred_index[pred_index >= 0], minlength=k)
    hits = (true_index >= 0) & (true_index == pred_index)
    tp = np.bincount(true_index[hits], minlength=k)
    return tp, pred_sum, true_sum


def _labels_for_average(average, labels, present, pos_label, where):
    if average not in _AVERAGES:
        raise ValueError(f"{where}: average must be one of {list(_AVERAGES)}, got {average!r}")
    if average != "binary":
        return _check_label_list(labels, present, where)
    if len(present) > 2:
        raise ValueError(f"{where}: Target is multiclass but average='binary'. Please choose "
                         f"another average setting, one of [None, 'micro', 'macro', 'weighted'].")
    valid = pos_label in present.tolist() or (
        len(present) < 2 and isinstance(pos_label, str) == _is_text(present))
    if not valid:
        raise ValueError(f"{where}: pos_label={pos_label!r} is not a valid label. It should be "
                         f"one of {present.tolist()}")
    return np.asarray([pos_label])


def precision_recall_fscore_support(y_true, y_pred, *, beta: float = 1.0, labels=None,
                                    pos_label=1, average=None,
                                    warn_for=("precision", "recall", "f-score"),
                                    zero_division="warn"):
    """Precision, recall, F-beta score and support, per class or averaged.

    precision_c = TP/(TP+FP), recall_c = TP/(TP+FN),
    F_beta,c = (1+β²)·TP / ((1+β²)·TP + β²·FN + FP)   (β = 1: the F1 score),
    support_c = TP + FN.

    Returns ``(precision, recall, fbeta, support)``: arrays over ``labels`` when ``average`` is
    None, else three floats and ``None`` for the support. See the module docstring for
    ``average``, ``labels`` and ``zero_division``.
    """
    where = "precision_recall_fscore_support"
    y_true, y_pred, present = _check_targets(y_true, y_pred, where)
    _zero_division_value(zero_division)  # refuse a bad value even when nothing divides by 0
    labels = _labels_for_average(average, labels, present, pos_label, where)
    tp, pred_sum, true_sum = _counts_per_class(y_true, y_pred, labels)
    if average == "micro":  # pool the counts of all the labels, then divide once
        tp, pred_sum, true_sum = (counts.sum(keepdims=True) for counts in (tp, pred_sum, true_sum))

    precision = _divide(tp, pred_sum, "precision", "predicted", warn_for, zero_division)
    recall = _divide(tp, true_sum, "recall", "true", warn_for, zero_division)
    beta2 = beta ** 2
    # (1+β²)·TP + β²·FN + FP = β²·(TP + FN) + (TP + FP): 0 only for a class never true nor
    # predicted, so F is defined even when one of precision and recall is not.
    fscore = _divide((1 + beta2) * tp, beta2 * true_sum + pred_sum, "f-score",
                     "true nor predicted", warn_for, zero_division)

    if average is None:
        return precision, recall, fscore, true_sum
    weights = true_sum if average == "weighted" else None
    return (_average(precision, weights), _average(recall, weights), _average(fscore, weights),
            None)


def precision_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                    zero_division="warn"):
    """Precision = TP / (TP + FP): of the samples predicted as a class, the fraction that are.

    ``average``: "binary" (default: the precision of ``pos_label``; two-label data only),
    "micro", "macro", "weighted" or None (an array, one entry per label).
    """
    precision, _, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        warn_for=("precision",), zero_division=zero_division)
    return precision


def recall_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                 zero_division="warn"):
    """Recall = TP / (TP + FN): of the samples of a class, the fraction predicted as it.

    ``average`` as in ``precision_score``; macro recall is also called balanced accuracy.
    """
    _, recall, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        warn_for=("recall",), zero_division=zero_division)
    return recall


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
             zero_division="warn"):
    """F1 = 2·P·R / (P + R) = 2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall.

    ``average`` as in ``precision_score``. Macro F1 averages the per-class F1 scores; it is not
    the F1 of the macro precision and macro recall.
    """
    _, _, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        warn_for=("f-score",), zero_division=zero_division)
    return f1


def jaccard_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary",
                  zero_division="warn"):
    """Jaccard index, intersection over union: J_c = TP / (TP + FP + FN).

    Of the samples that are c or predicted c, the fraction that are both; in segmentation, over
    pixels, the IoU of class c (``mean_iou`` and ``iou_score`` do that on label maps, with
    ``ignore_index``). ``average`` as in ``precision_score``; "micro" pools TP, FP and FN over
    the classes first. A class neither true nor predicted is 0/0 (see ``zero_division``).
    """
    where = "jaccard_score"
    y_true, y_pred, present = _check_targets(y_true, y_pred, where)
    _zero_division_value(zero_division)
    labels = _labels_for_average(average, labels, present, pos_label, where)
    tp, pred_sum, true_sum = _counts_per_class(y_true, y_pred, labels)
    if average == "micro":
        tp, pred_sum, true_sum = (counts.sum(keepdims=True) for counts in (tp, pred_sum, true_sum))
    score = _divide(tp, true_sum + pred_sum - tp, "jaccard", "true or predicted", ("jaccard",),
                    zero_division)
    if average is None:
        return score
    return _average(score, true_sum if average == "weighted" else None)


# -- the report ------------------------------------------------------------------------------------
REPORT_OUTPUTS = ("text", "dict", "latex", "markdown")


def classification_report(y_true, y_pred, *, labels=None, target_names=None, digits: int = 2,
                          output_dict: bool = False, zero_division="warn", output: str = "text"):
    """Per-class precision, recall, F1 and support, then accuracy and the averages.

    The text is laid out exactly as scikit-learn's::

                      precision    recall  f1-score   support

                 cat       0.50      1.00      0.67         1
                 dog       0.00      0.00      0.00         1
                bird       1.00      0.67      0.80         3

            accuracy                           0.60         5
           macro avg       0.50      0.56      0.49         5
        weighted avg       0.70      0.60      0.61         5

    When ``labels`` leaves out a label that occurs in the data, the accuracy row becomes a
    "micro avg" row (micro averaging over the chosen labels is then not the accuracy).

    ``output_dict=True`` returns the same numbers as a dict, as scikit-learn does:
    ``{"cat": {"precision": ..., "recall": ..., "f1-score": ..., "support": ...}, ...,
    "accuracy": float, "macro avg": {...}, "weighted avg": {...}}``.

    ``output`` chooses the form (not in scikit-learn, which has only the text and
    ``output_dict``): ``"text"`` (the default, above), ``"dict"`` (as ``output_dict=True``),
    ``"latex"`` (a plain ``tabular`` with ``\\hline`` rules, no package needed; class names
    escaped by ``latex_escape``) or ``"markdown"`` (a pipe table, ``|`` in names escaped).
    The rows and numbers are the same in every form, rounded to ``digits`` where printed.
    """
    where = "classification_report"
    if output not in REPORT_OUTPUTS:
        raise ValueError(f"{where}: output must be one of {', '.join(map(repr, REPORT_OUTPUTS))}, "
                         f"got {output!r}")
    if output_dict and output not in ("text", "dict"):
        raise ValueError(f"{where}: output_dict=True asks for a dict but output={output!r}; "
                         f"give one of them")
    y_true, y_pred, present = _check_targets(y_true, y_pred, where)
    labels_given = labels is not None
    labels = _check_label_list(labels, present, where)
    micro_is_accuracy = not labels_given or set(labels.tolist()) >= set(present.tolist())
    if target_names is None:
        target_names = [str(label) for label in labels]
    elif len(target_names) != len(labels):
        raise ValueError(f"{where}: {len(labels)} labels but {len(target_names)} target_names; "
                         f"give one name per label (or specify the labels parameter)")

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=zero_division)
    rows = [(str(name), p, r, f, s)
            for name, p, r, f, s in zip(target_names, precision, recall, f1, support, strict=True)]
    total = support.sum()
    averages = []
    for average in ("micro", "macro", "weighted"):
        heading = "accuracy" if average == "micro" and micro_is_accuracy else f"{average} avg"
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=zero_division)
        averages.append((heading, p, r, f, total))

    if output_dict or output == "dict":
        return _report_dict(rows, averages)
    if output == "latex":
        return _report_latex(rows, averages, digits)
    if output == "markdown":
        return _report_markdown(rows, averages, digits)
    return ClassificationReport(_report_text(rows, averages, digits),
                                _report_cells(rows, averages, digits))


class ClassificationReport(str):
    """The text of the report (a ``str``: print it, compare it, write it) that a notebook shows
    as an HTML table; ``print`` still shows scikit-learn's text."""

    def __new__(cls, text: str, cells: list):
        report = super().__new__(cls, text)
        report._cells = cells
        return report

    def _repr_html_(self) -> str:
        import html

        def row(cells, tag):
            return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"

        header, *body = self._cells
        return ("<table><thead>" + row(header, "th") + "</thead><tbody>"
                + "".join(row(cells, "td") for cells in body) + "</tbody></table>")


def _report_dict(rows, averages) -> dict:
    headers = ("precision", "recall", "f1-score", "support")
    report = {name: dict(zip(headers, map(float, values), strict=True)) for name, *values in rows}
    for heading, *values in averages:
        if heading == "accuracy":
            report[heading] = float(values[2])  # micro F1 = accuracy
        else:
            report[heading] = dict(zip(headers, map(float, values), strict=True))
    return report


def _report_text(rows, averages, digits: int) -> str:
    # Column layout of scikit-learn's report: names right-aligned in the width of the longest
    # name (at least "weighted avg"), then four 9-wide columns separated by a space.
    width = max(max(len(row[0]) for row in rows), len("weighted avg"), digits)
    row_format = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    lines = ["{:>{width}s} ".format("", width=width)
             + "".join(f" {h:>9}" for h in ("precision", "recall", "f1-score", "support"))
             + "\n\n"]
    for name, p, r, f, support in rows:
        lines.append(row_format.format(name, p, r, f, support, width=width, digits=digits))
    lines.append("\n")
    for heading, p, r, f, support in averages:
        if heading == "accuracy":  # precision and recall columns stay blank
            lines.append("{:>{width}s} ".format(heading, width=width) + " " * 20
                         + f" {f:>9.{digits}f} {support:>9}\n")
        else:
            lines.append(row_format.format(heading, p, r, f, support, width=width,
                                           digits=digits))
    return "".join(lines)


def _report_cells(rows, averages, digits: int) -> list:
    """The report as lists of strings: the header, the class rows, then the average rows
    (the accuracy row with blank precision and recall, as in the text)."""
    def numbers(p, r, f, support):
        return [f"{p:.{digits}f}", f"{r:.{digits}f}", f"{f:.{digits}f}", str(support)]

    cells = [["", "precision", "recall", "f1-score", "support"]]
    cells += [[name, *numbers(*values)] for name, *values in rows]
    for heading, p, r, f, support in averages:
        row = [heading, *numbers(p, r, f, support)]
        if heading == "accuracy":
            row[1] = row[2] = ""
        cells.append(row)
    return cells


# LaTeX's special characters and what prints them in text mode (standard LaTeX, no package).
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}
_LATEX_PATTERN = re.compile("|".join(re.escape(c) for c in _LATEX_SPECIAL))


def latex_escape(text) -> str:
    """``text`` with LaTeX's special characters (``\\ & % $ # _ { } ~ ^ < >``) made printable.

    One pass, so the braces an escape adds are not escaped again: ``"a_b & 5%"`` becomes
    ``a\\_b \\& 5\\%``.
    """
    return _LATEX_PATTERN.sub(lambda match: _LATEX_SPECIAL[match.group()], str(text))


def _report_latex(rows, averages, digits: int) -> str:
    cells = _report_cells(rows, averages, digits)

    def line(row):
        return " & ".join([latex_escape(row[0]), *row[1:]]) + r" \\"

    lines = [r"\begin{tabular}{lrrrr}", r"\hline", line(cells[0]), r"\hline",
             *(line(row) for row in cells[1:1 + len(rows)]), r"\hline",
             *(line(row) for row in cells[1 + len(rows):]), r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _report_markdown(rows, averages, digits: int) -> str:
    cells = _report_cells(rows, averages, digits)

    def line(row):
        return "| " + " | ".join([row[0].replace("|", r"\|"), *row[1:]]) + " |"

    return "\n".join([line(cells[0]), "|:---|---:|---:|---:|---:|",
                      *(line(row) for row in cells[1:])]) + "\n"


# -- top-k accuracy --------------------------------------------------------------------------------
def top_k_accuracy_score(y_true, y_score, *, k: int = 2, normalize: bool = True, labels=None):
    """The fraction of samples whose true class is among the ``k`` highest scores.

    top-k accuracy = (1/n) · Σ_i [y_true_i ∈ the k classes with the largest y_score[i]]
    (the ImageNet "top-5 error" is 1 − top-5 accuracy). ``k = 1`` is ordinary accuracy.

    ``y_score``: (n, classes) scores, logits or probabilities; column j is class j, or class
    ``labels[j]`` when ``labels`` is given. Ties are broken as in scikit-learn: among equal
    scores the class with the higher column index ranks first.
    """
    where = "top_k_accuracy_score"
    y_true = _as_labels(y_true, "y_true", where)
    y_score = np.asarray(y_score)
    if y_score.ndim != 2 or y_score.dtype.kind not in "biuf":
        raise ValueError(f"{where}: expected y_score as a numeric 2-D array (n, classes), got "
                         f"shape {y_score.shape} and dtype {y_score.dtype}")
    if len(y_true) != len(y_score):
        raise ValueError(f"{where}: y_true and y_score must have the same number of samples, "
                         f"got {len(y_true)} and {len(y_score)}")
    if len(y_true) == 0:
        raise ValueError(f"{where}: y_true is empty; at least one sample is needed")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{where}: k must be a positive integer, got {k!r}")
    num_classes = y_score.shape[1]
    if labels is None:
        if _is_text(y_true):
            raise ValueError(f"{where}: string labels need the labels parameter (one per column)")
        labels = np.arange(num_classes)
    else:
        labels = _check_label_list(labels, np.unique(y_true), where)
        if len(labels) != num_classes:
            raise ValueError(f"{where}: {len(labels)} labels for {num_classes} score columns")
    column = _encode(y_true, labels)
    if (column < 0).any():
        bad = y_true[column < 0][0]
        raise ValueError(f"{where}: y_true contains {bad!r}, which is not one of the "
                         f"{num_classes} classes (score columns) of y_score; give labels= when "
                         f"the columns are not the classes 0 to {num_classes - 1}")
    # A stable ascending sort reversed puts the higher index first among equal scores.
    ranked = np.argsort(y_score, axis=1, kind="stable")[:, ::-1][:, :k]
    hits = (ranked == column[:, None]).any(axis=1)
    return float(hits.mean()) if normalize else int(hits.sum())


def top_k_accuracy(y_true, scores, k: int = 5) -> float:
    """Short form of ``top_k_accuracy_score(y_true, scores, k=k)``; top-5 by default."""
    return top_k_accuracy_score(y_true, scores, k=k)

