"""LeNet-5 on real MNIST, end to end: a short training run, resuming, and the example script.

The data come from $MINICNN_DATA (CI sets it), else the shared folder beside the repository.
When $MINICNN_DATA is set and the files are missing the tests fail; they never download.
Accuracy is asserted, never time.
"""

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn import data, models, nn, optim

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("MINICNN_DATA") or ROOT.parent / "shared" / "data")
if "MINICNN_DATA" not in os.environ and not (DATA_DIR / "mnist").is_dir():
    pytest.skip(f"no MNIST in {DATA_DIR} and $MINICNN_DATA is not set",
                allow_module_level=True)


@pytest.fixture(scope="module")
def mnist():
    train = data.MNIST(DATA_DIR, train=True, download=False)
    test = data.MNIST(DATA_DIR, train=False, download=False)
    normalize = data.Normalize((0.1307,), (0.3081,))
    return (normalize(train.data[:2000]), train.targets[:2000],
            normalize(test.data[:1000]), test.targets[:1000])


def test_two_thousand_images_train_lenet5_past_90_percent(mnist):
    x_train, y_train, x_test, y_test = mnist
    minicnn.manual_seed(0)
    model = models.lenet5()
    optimizer = optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    loader = data.DataLoader((x_train, y_train), batch_size=32, shuffle=True, seed=0)
    history = minicnn.fit(model, nn.CrossEntropyLoss(), optimizer, loader, epochs=5,
                          scheduler=optim.CosineAnnealingLR(optimizer, T_max=5), verbose=False)
    accuracy = np.mean(minicnn.predict(model, x_test).argmax(axis=1) == y_test)
    assert history.train_loss[-1] < history.train_loss[0]
    assert accuracy > 0.90, f"test accuracy {accuracy:.2%} after 5 epochs on 2,000 images"


def run(epochs, mnist, checkpoint=None, resume_from=None):
    x_train, y_train, _, _ = mnist
    minicnn.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.3),
                          nn.Flatten(), nn.Linear(4 * 12 * 12, 10))
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = optim.StepLR(optimizer, step_size=1, gamma=0.5)
    loader = data.DataLoader((x_train[:256], y_train[:256]), batch_size=32, shuffle=True,
                             seed=3, transform=data.RandomCrop(28, padding=2))
    start = 0
    if resume_from is not None:
        start = minicnn.load_checkpoint(resume_from, model, optimizer, scheduler, loader)["epoch"]
    minicnn.fit(model, nn.CrossEntropyLoss(), optimizer, loader, epochs=epochs,
                scheduler=scheduler, verbose=False, initial_epoch=start,
                checkpoint_path=checkpoint)
    return model


def test_resuming_from_a_checkpoint_gives_the_uninterrupted_weights(mnist, tmp_path):
    """Shuffling, augmentation, dropout masks, momentum and the schedule all resume exactly."""
    uninterrupted = run(3, mnist)
    run(1, mnist, checkpoint=tmp_path / "ckpt.npz")
    resumed = run(3, mnist, resume_from=tmp_path / "ckpt.npz")
    for (name, a), b in zip(uninterrupted.state_dict().items(), resumed.state_dict().values(),
                            strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_example_script_writes_everything_it_promises(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        spec = importlib.util.spec_from_file_location("train_mnist_lenet",
                                                      ROOT / "examples" / "train_mnist_lenet.py")
        script = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(script)
        accuracy = script.main(["--epochs", "1", "--limit", "2000", "--out", str(tmp_path),
                                "--data-dir", str(DATA_DIR), "--no-download", "--quiet"])
    finally:
        sys.path.remove(str(ROOT / "examples"))
    out = capsys.readouterr().out
    assert "61,706" in out and "weighted avg" in out
    assert f"test accuracy: {accuracy:.2%}" in out  # one short epoch: accuracy is not the point
    for name in ["model.npz", "history.json", "curves.png", "confusion_matrix.png",
                 "filters.png", "misclassified.png"]:
        assert (tmp_path / name).stat().st_size > 0, name
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["train_loss"]) == 1
    weights = minicnn.load(tmp_path / "model.npz")
    assert weights["features.0.weight"].shape == (6, 1, 5, 5)
