"""minicnn.data as a package: its public names, and that importing it stays light."""

import subprocess
import sys

import minicnn.data


def test_public_names():
    for name in ("MNIST", "FashionMNIST", "CIFAR10", "DataLoader", "Normalize", "Pad",
                 "RandomCrop", "RandomHorizontalFlip", "ColorJitter", "Compose",
                 "train_val_split", "read_idx", "data_root"):
        assert name in minicnn.data.__all__ and hasattr(minicnn.data, name)


def test_import_loads_neither_numba_nor_matplotlib_nor_tqdm():
    code = ("import sys, minicnn.data; "
            "print(sorted(m for m in ('numba', 'matplotlib', 'tqdm', 'minicnn.nn') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
