"""The pretrained weights shipped in the package (``models.lenet5(weights="mnist")``, ...).

Checked: each shipped file matches its recorded SHA-256 and loads strictly into its builder;
the weights reach their recorded test accuracy on the real test set (read from MINICNN_DATA)
with the recorded normalisation (a wrong or untrained net would not); a file changed by one
byte is refused before any weight is loaded, naming the file; arguments that contradict the
weights, and unknown weight names, are errors naming the builder and the argument.
"""

import shutil

import numpy as np
import pytest
from test_data_datasets import real_data_root

import minicnn
from minicnn import data, models
from minicnn.models import pretrained

SHIPPED = [("lenet5", "mnist", data.MNIST), ("resnet20", "fashion-mnist", data.FashionMNIST)]
BUILDERS = {"lenet5": models.lenet5, "resnet20": models.resnet20}


@pytest.mark.parametrize("arch, name, dataset", SHIPPED)
def test_every_shipped_file_is_listed_and_matches_its_checksum(arch, name, dataset):
    info = models.pretrained_weights(arch, name)
    assert f"{arch}/{name}" in models.available_weights()
    assert info.path.is_file(), info.path
    assert pretrained._sha256(info.path) == info.sha256


@pytest.mark.slow
@pytest.mark.parametrize("arch, name, dataset", SHIPPED)
def test_the_weights_reach_their_recorded_test_accuracy(arch, name, dataset):
    """Within 0.1 %: the fast and the reference kernels may round a borderline image apart."""
    info = models.pretrained_weights(arch, name)
    model = BUILDERS[arch](weights=name)
    assert model.pretrained is info
    test = dataset(root=real_data_root(), train=False, download=False)
    x = data.Normalize(info.mean, info.std)(test.data)
    accuracy = np.mean(minicnn.predict(model, x, batch_size=500).argmax(axis=1) == test.targets)
    assert accuracy == pytest.approx(info.test_accuracy, abs=1e-3)
    assert accuracy > 0.9  # far above chance: the weights are trained ones


def test_a_changed_file_is_refused_before_loading(tmp_path, monkeypatch):
    info = models.pretrained_weights("lenet5", "mnist")
    copy = tmp_path / info.file
    shutil.copyfile(info.path, copy)
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ValueError, match=rf"lenet5\(weights='mnist'\): .*{info.file} has SHA-256 "
                                         rf"[0-9a-f]{{64}}, expected {info.sha256}"):
        models.lenet5(weights="mnist")
    copy.unlink()
    with pytest.raises(FileNotFoundError, match=r"lenet5\(weights='mnist'\): the weights file "
                                                r".* is missing"):
        models.lenet5(weights="mnist")


def test_defaults_take_the_weights_configuration_and_contradictions_are_errors():
    model = models.resnet20(weights="fashion-mnist")
    assert model.conv1.weight.shape == (16, 1, 3, 3)  # one channel, as trained
    with pytest.raises(ValueError, match=r"resnet20\(weights='fashion-mnist'\): the weights fit "
                                         r"num_classes=10, got num_classes=5"):
        models.resnet20(num_classes=5, weights="fashion-mnist")
    with pytest.raises(ValueError, match=r"lenet5\(weights='mnist'\): the weights fit "
                                         r"activation='relu', got activation='tanh'"):
        models.lenet5(activation="tanh", weights="mnist")
    with pytest.raises(ValueError, match=r"lenet5: expected weights as one of \['mnist'\] or "
                                         r"None, got 'imagenet'"):
        models.lenet5(weights="imagenet")
    with pytest.raises(ValueError, match=r"resnet32: expected weights as None \(no weights ship"):
        models.pretrained_weights("resnet32", "cifar10")
