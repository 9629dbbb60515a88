"""minicnn.metrics against scikit-learn (a development dependency, imported here only).

Random labels with several seeds; ``labels=`` lists that include classes never true and never
predicted; every average mode; zero_division; the report's text character by character.
"""

import warnings

import numpy as np
import pytest
from sklearn import metrics as sk

from minicnn import metrics

SEEDS = [0, 1, 2, 3]
AVERAGES = [None, "micro", "macro", "weighted"]
# Labels are drawn from 0..5 (true) and 0..4 (predicted): class 5 is never predicted, classes 6
# and 7 are neither true nor predicted, [4, 1] leaves out classes that occur, in a new order.
LABEL_LISTS = [None, list(range(8)), [4, 1], [7, 0, 3]]
SCORES = ["precision_score", "recall_score", "f1_score"]


def random_labels(seed, n=300):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 6, n), rng.integers(0, 5, n)


def quietly(function, *args, **kwargs):
    """Call without the UndefinedMetricWarnings (of either library), which other tests check."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("labels", LABEL_LISTS)
@pytest.mark.parametrize("score", SCORES)
def test_scores_match_sklearn(seed, average, labels, score):
    y_true, y_pred = random_labels(seed)
    ours = quietly(getattr(metrics, score), y_true, y_pred, average=average, labels=labels)
    theirs = quietly(getattr(sk, score), y_true, y_pred, average=average, labels=labels)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    if average is None:
        assert ours.shape == (len(labels) if labels else 6,)
    else:
        assert isinstance(ours, float)


@pytest.mark.parametrize("zero_division", [0.0, 1.0, np.nan])
@pytest.mark.parametrize("average", AVERAGES)
def test_zero_division_values_match_sklearn(zero_division, average):
    y_true, y_pred = random_labels(7)
    for score in SCORES:
        ours = getattr(metrics, score)(y_true, y_pred, labels=list(range(8)), average=average,
                                       zero_division=zero_division)
        theirs = getattr(sk, score)(y_true, y_pred, labels=list(range(8)), average=average,
                                    zero_division=zero_division)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0, equal_nan=True)


def test_precision_recall_fscore_support_matches_sklearn_including_support():
    y_true, y_pred = random_labels(3)
    ours = quietly(metrics.precision_recall_fscore_support, y_true, y_pred, labels=[5, 0, 6])
    theirs = quietly(sk.precision_recall_fscore_support, y_true, y_pred, labels=[5, 0, 6])
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def test_worked_example_follows_the_formulas():
    # Class 0: TP 1, FP 1 (a 1 predicted 0), FN 0. Class 1: TP 0, FP 1, FN 1. Class 2: TP 2, FN 1.
    y_true, y_pred = [0, 1, 2, 2, 2], [0, 0, 2, 2, 1]
    precision = metrics.precision_score(y_true, y_pred, average=None)
    recall = metrics.recall_score(y_true, y_pred, average=None)
    np.testing.assert_allclose(precision, [1 / 2, 0 / 1, 2 / 2])
    np.testing.assert_allclose(recall, [1 / 1, 0 / 1, 2 / 3])
    np.testing.assert_allclose(metrics.f1_score(y_true, y_pred, average=None),
                               [2 * 1 / (2 + 1), 0, 2 * 2 / (4 + 1)])
    assert metrics.precision_score(y_true, y_pred, average="macro") == pytest.approx(0.5)
    # micro precision = micro recall = micro F1 = accuracy for single-label data
    assert metrics.f1_score(y_true, y_pred, average="micro") == pytest.approx(3 / 5)
    assert metrics.accuracy_score(y_true, y_pred) == pytest.approx(3 / 5)
    assert metrics.accuracy_score(y_true, y_pred, normalize=False) == 3


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_average_is_the_default_as_in_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    for score in SCORES:
        assert getattr(metrics, score)(y_true, y_pred) == pytest.approx(
            getattr(sk, score)(y_true, y_pred), rel=1e-12)
        assert getattr(metrics, score)(y_true, y_pred, pos_label=0) == pytest.approx(
            getattr(sk, score)(y_true, y_pred, pos_label=0), rel=1e-12)


def test_binary_average_on_multiclass_data_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"multiclass but average='binary'.*'macro'"):
        metrics.precision_score([0, 1, 2], [0, 1, 1])
    with pytest.raises(ValueError, match="pos_label=1 is not a valid label"):
        metrics.recall_score([2, 2, 3], [2, 3, 3])


def test_undefined_precision_warns_as_sklearn_does_and_zero_division_silences_it():
    y_true, y_pred = [0, 1, 1], [0, 0, 0]  # class 1 is never predicted
    with pytest.warns(metrics.UndefinedMetricWarning, match="Precision is ill-defined"):
        assert metrics.precision_score(y_true, y_pred, average="macro") == pytest.approx(1 / 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.precision_score(y_true, y_pred, average="macro",
                                       zero_division=1.0) == pytest.approx(2 / 3)
        # F1 is defined for class 1 (2·TP + FP + FN = 2): no warning, as in sklearn
        metrics.f1_score(y_true, y_pred, average="macro")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("labels", LABEL_LISTS)
def test_confusion_matrix_matches_sklearn(seed, labels):
    y_true, y_pred = random_labels(seed)
    ours = metrics.confusion_matrix(y_true, y_pred, labels=labels)
    np.testing.assert_array_equal(ours, sk.confusion_matrix(y_true, y_pred, labels=labels))
    assert ours.dtype == np.int64
    for normalize in ("true", "pred", "all"):
        np.testing.assert_allclose(
            metrics.confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize),
            sk.confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize), rtol=1e-12)


def test_confusion_matrix_rows_are_true_and_columns_predicted():
    cm = metrics.confusion_matrix([0, 0, 1, 2], [1, 1, 1, 0])
    np.testing.assert_array_equal(cm, [[0, 2, 0], [0, 1, 0], [1, 0, 0]])


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_report_text_equals_sklearn(seed):
    y_true, y_pred = random_labels(seed)
    assert quietly(metrics.classification_report, y_true, y_pred) == \
        quietly(sk.classification_report, y_true, y_pred)


@pytest.mark.parametrize("kwargs", [
    {"digits": 4},
    {"target_names": ["airplane", "automobile", "bird", "cat", "deer", "dog"]},
    {"labels": list(range(8)), "digits": 3},     # absent classes: rows of zeros
    {"labels": [4, 1]},                          # a subset: "micro avg" replaces accuracy
    {"labels": [3, 0], "target_names": ["x", "a very long class name"]},
    {"zero_division": 1.0},
])
def test_classification_report_variants_equal_sklearn(kwargs):
    y_true, y_pred = random_labels(11)
    ours = quietly(metrics.classification_report, y_true, y_pred, **kwargs)
    assert ours == quietly(sk.classification_report, y_true, y_pred, **kwargs)
    as_dict = quietly(metrics.classification_report, y_true, y_pred, output_dict=True, **kwargs)
    expected = quietly(sk.classification_report, y_true, y_pred, output_dict=True, **kwargs)
    assert list(as_dict) == list(expected)
    for key, value in expected.items():
        if isinstance(value, dict):
            for column, number in value.items():
                assert as_dict[key][column] == pytest.approx(number, rel=1e-12, abs=0)
        else:
            assert as_dict[key] == pytest.approx(value, rel=1e-12, abs=0)


def test_classification_report_docstring_example():
    report = quietly(metrics.classification_report, [0, 1, 2, 2, 2], [0, 0, 2, 2, 1],
                     target_names=["cat", "dog", "bird"])
    assert report.splitlines()[2] == "         cat       0.50      1.00      0.67         1"
    assert report.splitlines()[6] == "    accuracy                           0.60         5"


def test_string_and_integral_float_labels_work_as_in_sklearn():
    y_true = np.array(["cat", "dog", "cat", "bird"])
    y_pred = np.array(["cat", "cat", "cat", "bird"])
    assert quietly(metrics.classification_report, y_true, y_pred) == \
        quietly(sk.classification_report, y_true, y_pred)
    assert metrics.accuracy_score([1.0, 2.0], [1, 2]) == 1.0


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.accuracy_score([0, 1], [0, 1, 1]), "same length, got 2 and 3"),
    (lambda: metrics.accuracy_score([], []), "empty"),
    (lambda: metrics.f1_score([0.5, 1], [0, 1]), "continuous values such as 0.5"),
    (lambda: metrics.accuracy_score([0, 1], [np.nan, 1.0]), "continuous"),
    (lambda: metrics.accuracy_score(np.zeros((3, 2)), np.zeros((3, 2))), "argmax"),
    (lambda: metrics.accuracy_score(["a", "b"], [1, 2]), "mix string and number"),
    (lambda: metrics.precision_score([0, 1], [0, 1], average="samples"), "average must be"),
    (lambda: metrics.precision_score([0, 1], [0, 1], zero_division=2), "zero_division"),
    (lambda: metrics.precision_score([0, 1], [0, 1], average=None, labels=[1, 1]), "duplicates"),
    (lambda: metrics.recall_score([0, 1], [0, 1], average=None, labels=[]), "non-empty"),
    (lambda: metrics.confusion_matrix([0, 1], [0, 0], labels=[5, 6]), "none of the labels"),
    (lambda: metrics.confusion_matrix([0, 1], [0, 0], normalize="rows"), "normalize"),
    (lambda: metrics.classification_report([0, 1], [0, 0], target_names=["a"]),
     "2 labels but 1 target_names"),
])
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy_matches_sklearn(seed, k):
    rng = np.random.default_rng(seed)
    y_true = np.concatenate([np.arange(6), rng.integers(0, 6, 94)])  # every class occurs
    scores = rng.random((100, 6))
    scores[:10] = scores[:10].round(1)  # ties, broken as in sklearn
    assert metrics.top_k_accuracy_score(y_true, scores, k=k) == pytest.approx(
        sk.top_k_accuracy_score(y_true, scores, k=k), rel=1e-12)
    assert metrics.top_k_accuracy(y_true, scores, k) == metrics.top_k_accuracy_score(
        y_true, scores, k=k)


def test_top_k_accuracy_reads_columns_as_classes():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert metrics.top_k_accuracy_score([2, 0], scores, k=1) == 0.5
    assert metrics.top_k_accuracy_score([2, 0], scores, k=2) == 1.0
    labelled = metrics.top_k_accuracy_score(["c", "a"], scores, k=1, labels=["a", "b", "c"])
    assert labelled == 0.5 == sk.top_k_accuracy_score(["c", "a"], scores, k=1,
                                                      labels=["a", "b", "c"])
    assert metrics.top_k_accuracy_score([2, 0], scores, k=1, normalize=False) == 1
    with pytest.raises(ValueError, match="not one of the 3 classes"):
        metrics.top_k_accuracy_score([3, 0], scores, k=1)
    with pytest.raises(ValueError, match="2-D"):
        metrics.top_k_accuracy_score([0, 1], np.array([0.1, 0.9]), k=1)
