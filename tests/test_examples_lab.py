"""End-to-end runs of examples/vgg_vs_resnet_lab.py (the VGG19 lab) on a few dozen images.

As in tests/test_examples_deep.py, the example's ``main(argv)`` runs in this process with a
tiny --limit and one epoch. Checked in the Report.6.CNN.tex it writes: the article class and
graphicx only, one document body, every environment closed in order, braces balanced outside
verbatim, plain ASCII, every \\includegraphics file written, and the comparison table with
one row per class plus the macro and weighted averages whose precision, recall and F1 are
those of ``minicnn.metrics`` recomputed here from the returned predictions; accuracy and
seconds are there too. Fashion-MNIST is the real one (from $MINICNN_DATA); the image-folder
run uses a few random PNGs whose class names need LaTeX escaping. The report is also compiled
with ``pdflatex`` (twice, for the table's reference) and the log checked for errors and
undefined references: ``.ci/run`` installs Debian's texlive-latex-base and sets
MINICNN_REQUIRE_PDFLATEX=1, so there a missing pdflatex fails; elsewhere the compile is
skipped when pdflatex is not on the PATH.
"""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from test_examples_deep import (
    CIFAR_CLASSES,
    DATA_DIR,
    check_outputs,
    load_example,
    needs,
    run_example,
    write_fake_cifar10,
)

from minicnn import metrics

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::minicnn.metrics.UndefinedMetricWarning")]

OUTPUTS = ["curves-vgg19.png", "confusion-vgg19.png", "vgg19.npz", "curves-resnet20.png",
           "confusion-resnet20.png", "resnet20.npz", "results.json", "Report.6.CNN.tex"]
# Written by hand: the escapes LaTeX needs for the characters in the class names below.
ESCAPED = {"cat_1": r"cat\_1", "dogs & co": r"dogs \& co", "50% off": r"50\% off"}


def without_verbatim(tex: str) -> str:
    return re.sub(r"\\begin\{verbatim\}.*?\\end\{verbatim\}", "", tex, flags=re.DOTALL)


def check_structure(tex: str, out) -> None:
    assert tex.isascii()
    assert tex.startswith("\\documentclass[11pt]{article}\n")
    assert re.findall(r"\\usepackage(?:\[[^]]*\])?\{([^}]*)\}", tex) == ["graphicx"]
    assert tex.count("\\begin{document}") == 1 and tex.count("\\end{document}") == 1
    assert tex.rstrip().endswith("\\end{document}")
    assert tex.count("\\begin{verbatim}") == tex.count("\\end{verbatim}") == 2
    body = without_verbatim(tex)
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{([^}]*)\}", body):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"\\end{{{name}}} closes nothing open"
    assert stack == []
    depth = 0
    for char in re.sub(r"\\[{}]", "", body):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    images = re.findall(r"\\includegraphics\[[^]]*\]\{([^}]*)\}", body)
    assert sorted(images) == sorted(name for name in OUTPUTS if name.endswith(".png"))
    for name in images:
        assert (out / name).is_file()


def comparison_rows(tex: str) -> dict:
    """{first cell: other cells} of the comparison table."""
    table = re.search(r"\\begin\{table\}.*?\\end\{table\}", tex, flags=re.DOTALL).group()
    rows = {}
    for line in table.splitlines():
        if line.endswith(r" \\"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)&", line[:-3])]
            rows[cells[0]] = cells[1:]
    return rows


def check_comparison(tex: str, result: dict, escaped_names: list) -> None:
    rows = comparison_rows(tex)
    labels = list(range(len(result["classes"])))
    reports = [metrics.classification_report(
        result["y_true"], network["y_pred"], labels=labels, target_names=result["classes"],
        output="dict", zero_division=0.0) for network in result["networks"].values()]
    assert list(result["networks"]) == ["vgg19", "resnet20"]
    keys = [*result["classes"], "macro avg", "weighted avg"]
    headings = [*escaped_names, "macro avg", "weighted avg"]
    assert [h for h in rows if h in headings] == headings  # one row each, in this order
    for key, heading in zip(keys, headings, strict=True):
        expected = [f"{report[key][column]:.4f}" for report in reports
                    for column in ("precision", "recall", "f1-score")]
        assert rows[heading] == expected, heading
    assert rows["accuracy"] == [r"\multicolumn{3}{c}{" + f"{report['accuracy']:.4f}" + "}"
                                for report in reports]
    seconds = [re.fullmatch(r"\\multicolumn\{3\}\{c\}\{([0-9.]+)\}", cell)
               for cell in rows["training seconds"]]
    assert all(seconds) and all(float(match.group(1)) > 0 for match in seconds)


def compile_if_possible(out) -> None:
    if shutil.which("pdflatex") is None:
        assert not os.environ.get("MINICNN_REQUIRE_PDFLATEX"), "pdflatex is not on the PATH"
        return
    for _ in range(2):  # the second pass resolves \ref
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                        "Report.6.CNN.tex"], cwd=out, check=True, capture_output=True,
                       timeout=300)
    assert (out / "Report.6.CNN.pdf").stat().st_size > 0
    log = (out / "Report.6.CNN.log").read_text(encoding="latin-1")
    assert "undefined" not in log and "\n! " not in log, log[-2000:]


@needs("fashion-mnist")
def test_lab_on_fashion_mnist(tmp_path, capsys):
    out = tmp_path / "run"
    result, lines = run_example("vgg_vs_resnet_lab", [
        "--limit", 60, "--epochs", 1, "--batch-size", 16, "--test-limit", 40,
        "--data-dir", DATA_DIR, "--out", out, "--no-download", "--quiet"], capsys)
    check_outputs(out, OUTPUTS)
    assert lines[-1] == f"wrote {', '.join(OUTPUTS)} to {out}"
    assert "training on 48 images, validating on 12, testing on 40" in lines
    tex = (out / "Report.6.CNN.tex").read_text(encoding="ascii")
    check_structure(tex, out)
    assert "VGG19 against ResNet-20 on Fashion-MNIST" in tex
    check_comparison(tex, result, result["classes"])  # no Fashion-MNIST name needs escaping
    assert "Ankle boot" in tex and len(result["y_true"]) == 40
    saved = json.loads((out / "results.json").read_text())
    assert saved["networks"]["vgg19"]["report"] == result["networks"]["vgg19"]["report"]
    # the layer tables of minicnn.summary. Counted by hand for VGG19-BN on 1x28x28: 16
    # convolutions 20,023,232 + 16 BatchNorm 11,008 + Linear 512-512-512-10 530,442.
    assert "Total params: 20,564,682" in tex
    compile_if_possible(out)


def write_image_folder(root, per_class: int = 10):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ESCAPED:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_lab_on_an_image_folder_escapes_class_names(tmp_path, capsys):
    root = write_image_folder(tmp_path / "my_images")
    out = tmp_path / "run"
    result, lines = run_example("vgg_vs_resnet_lab", [
        "--image-folder", root, "--epochs", 1, "--batch-size", 8, "--out", out, "--quiet"],
        capsys)
    check_outputs(out, OUTPUTS)
    # every fifth image of a class is a test image; a fifth of the rest validates
    assert "training on 20 images, validating on 4, testing on 6" in lines
    assert sorted(result["classes"]) == sorted(ESCAPED)
    tex = (out / "Report.6.CNN.tex").read_text(encoding="ascii")
    check_structure(tex, out)
    assert r"my\_images" in tex
    check_comparison(tex, result, [ESCAPED[name] for name in result["classes"]])
    compile_if_possible(out)


# -- the data choices, without training ----------------------------------------------------------
def data_args(**kwargs):
    import argparse

    defaults = {"dataset": "fashion-mnist", "image_folder": None, "data_dir": None, "limit": None,
                "test_limit": None, "val_size": 5000, "no_download": True, "seed": 0}
    return argparse.Namespace(**{**defaults, **kwargs})


def test_lab_reads_cifar10_when_asked(tmp_path):
    root = write_fake_cifar10(tmp_path / "data")
    splits, name = load_example("vgg_vs_resnet_lab").load_data(
        data_args(dataset="cifar10", data_dir=str(root), limit=50))
    assert name == "CIFAR-10" and splits.classes == CIFAR_CLASSES
    assert splits.train[0].shape == (40, 3, 32, 32) and splits.val[0].shape == (10, 3, 32, 32)
    assert splits.test[0].shape == (20, 3, 32, 32)


def test_lab_reads_train_and_test_folders(tmp_path):
    write_image_folder(tmp_path / "images" / "train", per_class=5)
    write_image_folder(tmp_path / "images" / "test", per_class=2)
    lab = load_example("vgg_vs_resnet_lab")
    splits, _ = lab.load_data(data_args(image_folder=str(tmp_path / "images"), val_size=0))
    assert splits.train[0].shape == (15, 3, 32, 32)  # resized to 32x32, colour
    assert splits.val is None and len(splits.test[1]) == 6
    assert sorted(np.unique(splits.train[1]).tolist()) == [0, 1, 2]
    # a test folder with other classes is refused, naming both lists
    (tmp_path / "images" / "test" / "extra").mkdir()
    shutil.copy(next((tmp_path / "images" / "test" / "cat_1").iterdir()),
                tmp_path / "images" / "test" / "extra")
    with pytest.raises(ValueError, match=r"train/ has the classes .* test/ .*'extra'"):
        lab.load_data(data_args(image_folder=str(tmp_path / "images")))
