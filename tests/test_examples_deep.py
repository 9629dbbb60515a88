"""End-to-end runs of the deep-network examples on a few hundred images.

Each example's ``main(argv)`` runs in this process (the Numba kernels stay compiled from one
test to the next) on a tiny --limit, into a temporary --out; the tests check that every file
the example promises is there and not empty, and what it prints last. Fashion-MNIST and MNIST
are the real ones, from $MINICNN_DATA or ../shared/data; CIFAR-10, which is not available
here, is a small fake written in the official binary format.
"""

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn.data import DatasetNotFoundError

pytestmark = [pytest.mark.slow,
              # a few test images leave some classes unpredicted: precision undefined there
              pytest.mark.filterwarnings("ignore::minicnn.metrics.UndefinedMetricWarning")]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DATA_DIR = Path(os.environ.get("MINICNN_DATA")
                or Path(__file__).resolve().parents[2] / "shared" / "data")
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]
CLASSIFICATION_OUTPUTS = ["model.npz", "history.json", "curves.png", "confusion_matrix.png",
                          "filters.png", "misclassified.png"]


def load_example(name: str):
    """The example script ``examples/<name>.py`` as a module (its ``main`` not yet run)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))  # the scripts import their neighbour _common
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def needs(*datasets: str):
    """Skip only on a machine without the data and without $MINICNN_DATA: where the variable
    is set (as in CI) missing files must fail the tests, not hide them."""
    missing = [d for d in datasets if not (DATA_DIR / d / "train-images-idx3-ubyte.gz").is_file()]
    skip = bool(missing) and "MINICNN_DATA" not in os.environ
    return pytest.mark.skipif(skip, reason=f"{', '.join(missing)} not in {DATA_DIR}")


def run_example(name: str, argv: list, capsys):
    """(return value of main, stdout lines) of one run."""
    result = load_example(name).main([str(arg) for arg in argv])
    lines = capsys.readouterr().out.strip().splitlines()
    return result, lines


def check_outputs(out: Path, names: list) -> None:
    for name in names:
        path = out / name
        assert path.is_file(), f"{name} was not written"
        assert path.stat().st_size > 0, f"{name} is empty"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "temporary files left"


def assert_wrote(lines: list, names: list, out: Path) -> None:
    assert lines[-1] == f"wrote {', '.join(names)} to {out}"


def write_fake_cifar10(root: Path, per_batch: int = 20, test: int = 20) -> Path:
    """CIFAR-10's binary layout with random pixels: 5 training batches of ``per_batch`` images,
    a test batch of ``test``, and the class names. Returns the data root."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def records(n: int) -> bytes:
        labels = (np.arange(n) % 10).astype(np.uint8)  # every class in every file
        pixels = rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
        return np.concatenate([labels[:, None], pixels], axis=1).tobytes()  # 3,073 bytes each

    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(records(per_batch))
    (folder / "test_batch.bin").write_bytes(records(test))
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR_CLASSES) + "\n\n", encoding="ascii")
    return root


# -- train_fashion_resnet ----------------------------------------------------------------------
@needs("fashion-mnist")
def test_train_fashion_resnet(tmp_path, capsys):
    out = tmp_path / "run"
    accuracy, lines = run_example("train_fashion_resnet", [
        "--limit", 100, "--epochs", 1, "--batch-size", 40, "--test-limit", 50,
        "--data-dir", DATA_DIR, "--out", out, "--no-download"], capsys)
    assert 0 <= accuracy <= 1
    check_outputs(out, CLASSIFICATION_OUTPUTS)
    assert_wrote(lines, CLASSIFICATION_OUTPUTS, out)
    text = "\n".join(lines)
    assert "training on 80 images, validating on 20, testing on 50" in text
    assert any(line.startswith("epoch   1/1") and line.endswith("img/s)") for line in lines)
    assert f"test accuracy: {accuracy:.2%} on 50 images" in text
    assert "s per 1,000 images" in text
    assert "Ankle boot" in text  # the classification report names the classes
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1]
    model = minicnn.models.resnet20(in_channels=1, input_size=28)
    model.load_state_dict(minicnn.load(out / "model.npz"))  # strict: the same architecture


# -- train_cifar10 -----------------------------------------------------------------------------
def test_train_cifar10_without_files_names_what_is_missing(tmp_path, capsys):
    example = load_example("train_cifar10")
    argv = ["--data-dir", str(tmp_path), "--out", str(tmp_path / "run"), "--no-download"]
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-bin"):
        example.main(argv)
    # Run as a script, the same error is one line on stderr and exit status 1, no traceback.
    saved = sys.argv
    sys.argv = ["train_cifar10.py", *argv]
    try:
        with pytest.raises(SystemExit) as exit_info:
            example.common.run(example.main)
    finally:
        sys.argv = saved
    assert str(exit_info.value.code).startswith("error: CIFAR-10: none of its files in ")


@pytest.mark.parametrize("model, limit, extra", [
    ("resnet20", 60, []),
    ("vgg11", 30, ["--no-augment"]),
    ("resnet18", 20, []),  # 11M parameters: the fewest images
])
def test_train_cifar10_on_fake_files(tmp_path, capsys, model, limit, extra):
    root = write_fake_cifar10(tmp_path / "data")
    out = tmp_path / "run"
    accuracy, lines = run_example("train_cifar10", [
        "--model", model, "--limit", limit, "--epochs", 1, "--batch-size", 16,
        "--data-dir", root, "--out", out, "--no-download", "--quiet", *extra], capsys)
    assert 0 <= accuracy <= 1
    check_outputs(out, [*CLASSIFICATION_OUTPUTS, "checkpoint.npz"])
    text = "\n".join(lines)
    n_val = limit // 5
    assert f"training on {limit - n_val} images, validating on {n_val}, testing on 20" in text
    assert f"model {model}, augmentation {'off' if extra else 'on'}" in text
    assert f"test accuracy: {accuracy:.2%} on 20 images" in text
    assert "truck" in text  # the class names come from batches.meta.txt
    assert lines[-1].startswith("wrote model.npz, history.json, curves.png")
    info = minicnn.load_checkpoint(out / "checkpoint.npz", example_model(model), restore_rng=False)
    assert info["epoch"] == 1


def test_train_cifar10_resumes_from_its_checkpoint(tmp_path, capsys):
    root = write_fake_cifar10(tmp_path / "data")
    out = tmp_path / "run"
    argv = ["--limit", 40, "--batch-size", 16, "--data-dir", root, "--out", out,
            "--no-download", "--quiet"]
    run_example("train_cifar10", [*argv, "--epochs", 1], capsys)
    _, lines = run_example("train_cifar10", [*argv, "--epochs", 2, "--resume"], capsys)
    assert f"resuming after epoch 1 from {out / 'checkpoint.npz'}" in lines
    assert json.loads((out / "history.json").read_text())["epoch"] == [2]
    with pytest.raises(SystemExit):  # epoch 2 of 2 done: nothing left to resume
        load_example("train_cifar10").main([str(a) for a in [*argv, "--epochs", 2, "--resume"]])
    assert "leaves nothing to do" in capsys.readouterr().err


def example_model(name: str):
    return load_example("train_cifar10").MODELS[name]()


# -- plain_vs_residual -------------------------------------------------------------------------
@needs("fashion-mnist")
def test_plain_vs_residual(tmp_path, capsys):
    out = tmp_path / "run"
    results, lines = run_example("plain_vs_residual", [
        "--depths", 8, 14, "--limit", 100, "--epochs", 1, "--batch-size", 50,
        "--test-limit", 50, "--data-dir", DATA_DIR, "--out", out, "--no-download",
        "--quiet"], capsys)
    names = ["results.json", "degradation.png", "gradient_norms.png"]
    check_outputs(out, names)
    assert lines[-1] == f"wrote degradation.png, gradient_norms.png to {out}"
    assert list(results) == ["plain-8", "ResNet-8", "plain-14", "ResNet-14"]
    saved = json.loads((out / "results.json").read_text())["networks"]
    for name, network in saved.items():
        assert len(network["grad_norms"]) == network["depth"] - 1  # one per convolution
        assert all(norm > 0 for norm in network["grad_norms"])
        assert len(network["step_losses"]) == 2  # 100 images, no validation, batches of 50
        assert len(network["train_loss"]) == 1
        assert any(line.strip().startswith(f"{name}  epoch 1/1") for line in lines)
    # plain-d and ResNet-d differ only in the parameter-free shortcuts
    assert saved["plain-14"]["parameters"] == saved["ResNet-14"]["parameters"]
    assert any(line.startswith("ResNet-14 ends with a training loss") for line in lines)


# -- transfer_learning -------------------------------------------------------------------------
@needs("mnist")
def test_transfer_learning(tmp_path, capsys):
    out = tmp_path / "run"
    results, lines = run_example("transfer_learning", [
        "--limit", 600, "--epochs", 1, "--test-limit", 1000, "--data-dir", DATA_DIR,
        "--out", out, "--no-download", "--quiet"], capsys)
    names = ["pretrained_0_4.npz", "history_pretrain.json", "results.json",
             *CLASSIFICATION_OUTPUTS]
    check_outputs(out, names)
    assert_wrote(lines, CLASSIFICATION_OUTPUTS, out)
    saved = json.loads((out / "results.json").read_text())
    assert saved["head"] == ["classifier.4.weight", "classifier.4.bias"]
    assert len(saved["loaded"]) == 8  # the two convolutions and the first two Linear layers
    variants = saved["variants"]
    assert list(variants) == ["linear SVM on features", "head only", "convolutions frozen",
                              "nothing frozen", "from scratch"]
    # 84·5 + 5 for the SVM and the head; 61,281 minus the convolutions' 156 + 2,416
    assert [v["trainable_parameters"] for v in variants.values()] == [425, 425, 58_709, 61_281,
                                                                      61_281]
    befores = {variants[name]["accuracy_before"] for name in ("head only", "convolutions frozen",
                                                              "nothing frozen")}
    assert len(befores) == 1  # every fine-tuned variant starts from the same new head
    assert "training 425 parameters on the 84 features of classifier.3" in "\n".join(lines)
    for name, variant in variants.items():
        assert 0 <= variant["accuracy"] <= 1 and variant["speedup"] > 0
        assert results[name]["accuracy"] == variant["accuracy"]
        assert any(line.startswith(f"  {name} ") for line in lines)
    assert "training 425 of 61,281 parameters" in "\n".join(lines)
    # the saved weights are those of the network with frozen convolutions
    model = minicnn.models.lenet5(num_classes=5)
    model.load_state_dict(minicnn.load(out / "model.npz"))
    pretrained = minicnn.load(out / "pretrained_0_4.npz")
    np.testing.assert_array_equal(model.state_dict()["features.0.weight"],
                                  pretrained["features.0.weight"])
