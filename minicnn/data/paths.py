"""Where datasets live on disk: one rule, used by every dataset class.

The data root is, in order of precedence:

1. the ``root`` argument given to the dataset (``MNIST(root="~/data")``);
2. the environment variable ``MINICNN_DATA``;
3. ``~/.cache/minicnn``.

Each dataset keeps its files in a sub-folder of the root, under the publisher's original names:
``<root>/mnist/train-images-idx3-ubyte.gz``, ``<root>/fashion-mnist/...``,
``<root>/cifar-10-batches-bin/data_batch_1.bin``.
"""

import os
from pathlib import Path

ENV_VAR = "MINICNN_DATA"
DEFAULT_ROOT = Path("~/.cache/minicnn")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root folder: ``root`` if given, else ``$MINICNN_DATA``, else ``~/.cache/minicnn``.

    ``~`` is expanded. The folder is not created here: reading needs no folder of its own,
    and only a download creates one.
    """
    if root is None:
        root = os.environ.get(ENV_VAR) or DEFAULT_ROOT
    return Path(root).expanduser()
