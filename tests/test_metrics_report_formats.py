"""classification_report's other forms: output="dict" | "latex" | "markdown" besides the text.

Checked: each form, parsed back into rows, carries the same rows in the same order and the same
numbers as the dict (rounded to ``digits``), with the accuracy row's precision and recall blank
and "micro avg" in its place when ``labels`` leaves classes out; the LaTeX is a plain
``tabular`` (four unescaped ``&`` a row, ``\\hline`` rules) whose class names have LaTeX's
special characters escaped (expected strings written by hand); the markdown is a pipe table
with one row per class and average and ``|`` in names escaped. A bad ``output``, or
``output_dict=True`` with another form, raises ValueError naming the function and what came.
"""

import re
import warnings

import numpy as np
import pytest

from minicnn import metrics

NAMES = ["T-shirt/top", "a_b", "50% & more", "#1 {x}", "pipe|name", "tilde~hat^"]
VARIANTS = [
    {},
    {"digits": 4, "target_names": NAMES},
    {"labels": [4, 1], "digits": 3},  # a subset: "micro avg" instead of accuracy
]


def labels_and_predictions(seed=3, n=200):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 6, n), rng.integers(0, 6, n)


def report(output, **kwargs):
    y_true, y_pred = labels_and_predictions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)
        return metrics.classification_report(y_true, y_pred, output=output, **kwargs)


def expected_rows(as_dict: dict, digits: int) -> list:
    """(name, [precision, recall, f1, support] as printed) from the dict, in its order."""
    rows = []
    for name, value in as_dict.items():
        if name == "accuracy":
            support = as_dict["macro avg"]["support"]
            rows.append((name, ["", "", f"{value:.{digits}f}", str(int(support))]))
        else:
            rows.append((name, [f"{value['precision']:.{digits}f}", f"{value['recall']:.{digits}f}",
                                f"{value['f1-score']:.{digits}f}", str(int(value["support"]))]))
    return rows


# Written by hand from LaTeX's rules (the inverse of the escaping, for the names above).
LATEX_UNESCAPE = [(r"\textbackslash{}", "\\"), (r"\textasciitilde{}", "~"),
                  (r"\textasciicircum{}", "^"), (r"\textless{}", "<"), (r"\textgreater{}", ">"),
                  (r"\&", "&"), (r"\%", "%"), (r"\$", "$"), (r"\#", "#"), (r"\_", "_"),
                  (r"\{", "{"), (r"\}", "}")]


def parse_latex(text: str) -> list:
    lines = text.strip().splitlines()
    assert lines[0] == r"\begin{tabular}{lrrrr}" and lines[-1] == r"\end{tabular}"
    rows = []
    for line in lines[1:-1]:
        if line == r"\hline":
            continue
        assert line.endswith(r" \\"), line
        cells = [cell.strip() for cell in re.split(r"(?<!\\)&", line[:-3])]
        assert len(cells) == 5, f"not five columns: {line}"
        name = cells[0]
        for escaped, plain in LATEX_UNESCAPE:
            name = name.replace(escaped, plain)
        rows.append((name, cells[1:]))
    return rows


def parse_markdown(text: str) -> list:
    lines = text.strip().splitlines()
    assert re.fullmatch(r"\|:?-+(\|-+:)+\|", lines[1].replace(" ", "")), lines[1]
    rows = []
    for line in [lines[0], *lines[2:]]:
        assert line.startswith("| ") and line.endswith(" |"), line
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line[2:-2])]
        assert len(cells) == 5, f"not five columns: {line}"
        rows.append((cells[0].replace(r"\|", "|"), cells[1:]))
    return rows


def parse_text(text: str, names: list) -> list:
    rows = []
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        name = next(n for n in sorted(names, key=len, reverse=True) if line.strip().startswith(n))
        numbers = line.strip()[len(name):].split()
        rows.append((name, ["", "", *numbers] if len(numbers) == 2 else numbers))
    return rows


@pytest.mark.parametrize("kwargs", VARIANTS)
def test_every_form_carries_the_dict_numbers(kwargs):
    as_dict = report("dict", **kwargs)
    digits = kwargs.get("digits", 2)
    expected = expected_rows(as_dict, digits)
    latex = parse_latex(report("latex", **kwargs))
    markdown = parse_markdown(report("markdown", **kwargs))
    assert latex[0] == markdown[0] == ("", ["precision", "recall", "f1-score", "support"])
    assert latex[1:] == expected
    assert markdown[1:] == expected
    assert parse_text(report("text", **kwargs), list(as_dict)) == expected
    if "labels" in kwargs:
        assert "micro avg" in as_dict and "accuracy" not in as_dict


def test_dict_output_is_output_dict_and_text_stays_the_default():
    y_true, y_pred = labels_and_predictions()
    assert metrics.classification_report(y_true, y_pred, output="dict") == \
        metrics.classification_report(y_true, y_pred, output_dict=True)
    assert metrics.classification_report(y_true, y_pred, output="text") == \
        metrics.classification_report(y_true, y_pred)
    assert metrics.classification_report(y_true, y_pred, output="dict", output_dict=True) == \
        metrics.classification_report(y_true, y_pred, output_dict=True)


def test_latex_escapes_class_names():
    text = report("latex", target_names=NAMES)
    assert "\nT-shirt/top & " in text
    assert "\na\\_b & " in text
    assert "\n50\\% \\& more & " in text
    assert "\n\\#1 \\{x\\} & " in text
    assert "\ntilde\\textasciitilde{}hat\\textasciicircum{} & " in text
    assert "\\begin{tabular}{lrrrr}\n\\hline\n & precision & recall & f1-score & support \\\\\n" \
        "\\hline\n" in text
    assert text.count("\\hline") == 4  # above and below the header, before the averages, last


@pytest.mark.parametrize("text, expected", [
    ("a_b & 5%", r"a\_b \& 5\%"),
    ("\\", r"\textbackslash{}"),
    ("{}", r"\{\}"),  # the braces of \textbackslash{} are not escaped again, nor these twice
    ("$x^2$ < y > z ~",
     r"\$x\textasciicircum{}2\$ \textless{} y \textgreater{} z \textasciitilde{}"),
    ("plain text 1.0", "plain text 1.0"),
])
def test_latex_escape(text, expected):
    assert metrics.latex_escape(text) == expected


def test_markdown_table_parses_into_one_row_per_class_and_average():
    rows = parse_markdown(report("markdown", target_names=NAMES))
    assert [name for name, _ in rows] == ["", *NAMES, "accuracy", "macro avg", "weighted avg"]
    assert "pipe\\|name" in report("markdown", target_names=NAMES)


def test_bad_output_is_refused():
    with pytest.raises(ValueError, match=r"classification_report: output must be one of "
                                         r"'text', 'dict', 'latex', 'markdown', got 'html'"):
        report("html")
    with pytest.raises(ValueError, match=r"classification_report: output_dict=True asks for a "
                                         r"dict but output='latex'"):
        report("latex", output_dict=True)


def test_the_text_report_shows_as_an_html_table_in_a_notebook():
    """The default return is still the text (a str equal to it), with a _repr_html_ table of
    the same cells: one header row, one row per class and per average."""
    import re

    from minicnn import metrics

    y_true, y_pred = [0, 1, 2, 2, 1, 0], [0, 2, 2, 2, 1, 1]
    report = metrics.classification_report(y_true, y_pred, target_names=["a<b", "c", "d"])
    assert isinstance(report, str) and report.startswith(" " * 13)
    html = report._repr_html_()
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    assert len(rows) == 1 + 3 + 3  # header, classes, accuracy + macro + weighted
    assert "<td>a&lt;b</td>" in rows[1]
    assert re.findall(r"<t[hd]>(.*?)</t[hd]>", rows[0]) == ["", "precision", "recall",
                                                            "f1-score", "support"]
