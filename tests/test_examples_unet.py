"""examples/train_unet_segmentation.py, run end to end on a tiny setting (seconds).

The script's ``main(argv)`` runs in this process on 20 training and 4 test canvases with a
2-channel, depth-2 U-Net for one epoch, into a temporary --out; the test checks the files it
promises (weights that load into the same architecture, the history, the curves and the masks
figure), what it prints, and that the mean IoU it returns is the one it reports.
"""

import json

import numpy as np
import pytest
from test_examples_deep import DATA_DIR, check_outputs, needs, run_example

import minicnn

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::minicnn.metrics.UndefinedMetricWarning")]
OUTPUTS = ["model.npz", "history.json", "curves.png", "masks.png"]


@needs("mnist")
def test_train_unet_segmentation_tiny(tmp_path, capsys):
    out = tmp_path / "run"
    miou, lines = run_example("train_unet_segmentation", [
        "--limit", 20, "--test-limit", 4, "--epochs", 1, "--batch-size", 8, "--base-channels", 2,
        "--depth", 2, "--data-dir", DATA_DIR, "--out", out, "--no-download", "--quiet"], capsys)
    assert 0 <= miou <= 1
    check_outputs(out, OUTPUTS)
    assert lines[-1] == f"wrote {', '.join(OUTPUTS)} to {out}"
    text = "\n".join(lines)
    assert "training on 16 images, validating on 4, testing on 4" in text
    assert f"test: mean IoU {miou:.3f}, pixel accuracy" in text
    assert "IoU per class: background" in text
    assert json.loads((out / "history.json").read_text())["epoch"] == [1]
    model = minicnn.models.unet(num_classes=11, base_channels=2, depth=2, padding="same",
                                batch_norm=True)
    model.load_state_dict(minicnn.load(out / "model.npz"))  # strict: the same architecture
    assert np.isfinite(model.head.weight.data).all()
