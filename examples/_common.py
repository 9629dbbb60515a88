"""Plumbing the example scripts share, so that each script shows only what is particular to it.

What lives here is the same in every example and teaches nothing about CNNs:

* ``make_parser`` / ``parse_args``: the flags every example takes (--epochs, --batch-size, --lr,
  --momentum, --weight-decay, --data-dir, --out, --seed, --limit, --val-size, --no-download,
  --quiet), then the output folder and ``minicnn.manual_seed``;
* ``load_splits``: a dataset read from --data-dir, cut to --limit, with a validation split;
* ``make_loaders``: the shuffled training loader and the validation loader;
* ``distribute`` (or ``distribute_model`` and ``shard_loaders`` apart), ``is_main``,
  ``unwrap``, ``global_batch``, ``single_process``: --distributed (data-parallel over MPI
  ranks, rank 0 alone prints and writes), in every training script the same way;
* ``report_test``: test accuracy, seconds per epoch and the per-class report;
* ``classification_figures`` and ``save_run``: the usual plots, and the weights, history and
  figures written to --out, each file atomically (a temporary file, then a rename);
* ``run``: the ``__main__`` entry point, which turns a missing dataset into a one-line error.

The model, the optimiser, the learning-rate schedule and the training loop stay in the scripts.
"""

import argparse
import json
import os
import sys
from collections import namedtuple

import numpy as np

import minicnn
from minicnn import data
from minicnn.io import atomic_write
from minicnn.metrics import accuracy_score, classification_report, confusion_matrix

# The training loop's state from one run to the next lives in these files (see ``save_run``).
MODEL_FILE, HISTORY_FILE = "model.npz", "history.json"
# The four figures of a classification run, in the order they are written.
CLASSIFICATION_FIGURES = ("curves.png", "confusion_matrix.png", "filters.png",
                          "misclassified.png")

Splits = namedtuple("Splits", ["train", "val", "test", "classes"])
Splits.__doc__ = """(x, y) pairs for training, validation (None without) and test; class names."""


# -- command line ----------------------------------------------------------------------------------
def make_parser(doc: str, *, epochs: int, batch_size: int, lr: float, out: str,
                momentum: float = 0.9, weight_decay: float = 5e-4, limit: int | None = None,
                val_size: int = 5000, test_limit_flag: bool = False, test_limit: int | None = None,
                lr_help: str = "initial learning rate (cosine annealed to 0 over the epochs)",
                distributed: bool = False) -> argparse.ArgumentParser:
    """A parser with the flags every example shares, and the given defaults.

    ``doc`` is the script's docstring (its first paragraph becomes the description);
    ``test_limit_flag=True`` adds --test-limit (default ``test_limit``; None: the whole test
    set), for the examples whose test pass takes a while; ``distributed=True`` adds
    --distributed, for the examples that call ``distribute`` and ``is_main``.
    Add the script's own flags to the parser, then call ``parse_args``.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr, help=lr_help)
    parser.add_argument("--momentum", type=float, default=momentum)
    parser.add_argument("--weight-decay", type=float, default=weight_decay)
    parser.add_argument("--data-dir", default=None,
                        help="dataset root (default: $MINICNN_DATA, else ~/.cache/minicnn)")
    parser.add_argument("--out", default=out)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=limit,
                        help="use only the first N training images")
    if test_limit_flag:
        parser.add_argument("--test-limit", type=int, default=test_limit,
                            help="use only the first N test images (None: all)")
    parser.add_argument("--val-size", type=int, default=val_size,
                        help="training images held out for validation (0 for none)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading missing files")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--engine", choices=minicnn.engines.ENGINES, default=None,
                        help="'reference' trains with the plain NumPy of minicnn.functional, the "
                             "code you read; 'fast' (the default, or $MINICNN_ENGINE) is faster")
    if distributed:
        parser.add_argument("--distributed", action="store_true",
                            help="data-parallel over MPI ranks: mpiexec -n 2 python -m mpi4py "
                                 "SCRIPT --distributed (docs/distributed.md)")
        parser.add_argument("--sync-bn", action="store_true",
                            help="with --distributed: BatchNorm with the statistics of all "
                                 "ranks' batches (nn.SyncBatchNorm), not each rank's own")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse ``argv`` and check the shared flags; then create --out and seed minicnn."""
    args = parser.parse_args(argv)
    for flag, minimum in (("epochs", 1), ("batch_size", 1), ("limit", 2), ("test_limit", 1)):
        value = getattr(args, flag, None)
        if value is not None and value < minimum:
            parser.error(f"--{flag.replace('_', '-')} must be at least {minimum}")
    if args.val_size < 0:
        parser.error("--val-size must be 0 or more")
    if getattr(args, "sync_bn", False) and not args.distributed:
        parser.error("--sync-bn needs --distributed")
    if getattr(args, "distributed", False):
        from minicnn import distributed

        distributed.init()  # before any thread starts: it sets the threads per rank
    os.makedirs(args.out, exist_ok=True)
    minicnn.manual_seed(args.seed)  # the same seed on every rank
    if args.engine is not None:
        minicnn.set_engine(args.engine)
    return args


def run(main) -> None:
    """``main(sys.argv[1:])``; a dataset that is missing or cannot be downloaded exits with its
    message (which says where the files should be) instead of a traceback."""
    # A script's own process: tune it for the fast engine before any thread starts (see
    # minicnn/fast/process.py; a notebook or a library embedding minicnn need not).
    minicnn.fast.configure_process()
    try:
        main(sys.argv[1:])
    except (data.DatasetNotFoundError, data.DownloadError) as error:
        sys.exit(f"error: {error}")


# -- data ------------------------------------------------------------------------------------------
def load_splits(dataset_class, args: argparse.Namespace) -> Splits:
    """Training, validation and test arrays of ``dataset_class`` (``data.MNIST``, ...).

    The first --limit training images are kept (all without it); --val-size of them, at most a
    fifth, go to validation, drawn with --seed (the same images every run). The test set is
    --test-limit's first images if the script has that flag, else all of it. Images are
    float32 (N, C, H, W) in [0, 1], labels int64.
    """
    download = not args.no_download
    train = dataset_class(args.data_dir, train=True, download=download)
    test = dataset_class(args.data_dir, train=False, download=download)
    x, y = train.data[:args.limit], train.targets[:args.limit]
    test_limit = getattr(args, "test_limit", None)
    x_test, y_test = test.data[:test_limit], test.targets[:test_limit]
    val_size = min(args.val_size, len(x) // 5)
    if val_size > 0:
        (x, y), val = data.train_val_split((x, y), val_size=val_size, seed=args.seed)
    else:
        val = None
    return Splits((x, y), val, (x_test, y_test), list(train.classes))


def make_loaders(args: argparse.Namespace, splits: Splits, train_transform=None,
                 eval_transform=None, eval_batch_size: int = 500):
    """(training loader, validation loader or None).

    The training loader reshuffles every epoch (seeded with --seed) and applies
    ``train_transform`` (augmentation, normalisation) to each batch; the validation loader
    keeps the order and applies ``eval_transform`` (normalisation only).
    """
    train_loader = data.DataLoader(splits.train, batch_size=args.batch_size, shuffle=True,
                                   seed=args.seed, transform=train_transform)
    val_loader = None
    if splits.val is not None:
        val_loader = data.DataLoader(splits.val, batch_size=eval_batch_size,
                                     transform=eval_transform)
    return train_loader, val_loader


def distribute(args: argparse.Namespace, model, train_loader, val_loader):
    """With --distributed: the model wrapped in ``DistributedDataParallel`` (rank 0's weights
    broadcast; with --sync-bn its BatchNorm layers made ``SyncBatchNorm`` first), each loader
    giving this rank its shard (and augmenting it with a stream of its own). Unchanged
    otherwise. The same as ``distribute_model`` and ``shard_loaders`` together."""
    model = distribute_model(args, model)
    return (model, *shard_loaders(args, train_loader, val_loader))


def distribute_model(args: argparse.Namespace, model):
    """With --distributed: ``model`` wrapped in ``DistributedDataParallel`` (rank 0's weights
    and buffers broadcast; with --sync-bn its BatchNorm layers made ``SyncBatchNorm`` first).
    ``model`` itself otherwise. For a script that builds several models on the same loaders."""
    if not getattr(args, "distributed", False):
        return model
    from minicnn import distributed, nn

    if args.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return distributed.DistributedDataParallel(model)


def shard_loaders(args: argparse.Namespace, *loaders):
    """With --distributed: each loader (None is left alone) set to give this rank its shard,
    the same batch count on every rank (``distributed.shard_loader``). Returns the loaders."""
    if getattr(args, "distributed", False):
        from minicnn import distributed

        for loader in loaders:
            if loader is not None:
                distributed.shard_loader(loader)
    return loaders


def global_batch(args: argparse.Namespace, mean_loss: float, correct: int, samples: int):
    """(mean loss, correct predictions, samples) of a training step's whole batch.

    With --distributed: summed over the ranks' shards in one all-reduce, each rank's mean loss
    weighted by its sample count (as ``DistributedDataParallel`` weighs the gradients), so the
    loss is that of one process on the whole batch and the same on every rank. Otherwise this
    process's numbers, untouched.
    """
    if not getattr(args, "distributed", False):
        return mean_loss, correct, samples
    from minicnn import distributed

    loss_sum, correct, samples = distributed.all_reduce_sum([mean_loss * samples, correct,
                                                             samples])
    return float(loss_sum / samples), int(correct), int(samples)


def single_process(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` for a part that one rank runs alone: without --distributed, and with
    --batch-size times the ranks (the batch of one step of all ranks together), so that it takes
    the steps of one process run with that batch. ``args`` itself without --distributed."""
    if not getattr(args, "distributed", False):
        return args
    from minicnn import distributed

    return argparse.Namespace(**{**vars(args), "distributed": False, "sync_bn": False,
                                 "batch_size": args.batch_size * distributed.world_size()})


def is_main(args: argparse.Namespace) -> bool:
    """True unless --distributed and this is not rank 0 (which alone prints and writes)."""
    if not getattr(args, "distributed", False):
        return True
    from minicnn import distributed

    return distributed.is_main()


def unwrap(model):
    """The trained model itself: ``DistributedDataParallel``'s ``.module``, else ``model``."""
    return getattr(model, "module", model)


def describe_splits(splits: Splits) -> None:
    """One line: how many images train, validate and test."""
    n_val = 0 if splits.val is None else len(splits.val[0])
    print(f"training on {len(splits.train[0]):,} images, validating on {n_val:,}, "
          f"testing on {len(splits.test[0]):,}")


# -- results ---------------------------------------------------------------------------------------
def report_test(model, history, total_seconds: float, x_test, y_test, class_names):
    """Print the test accuracy, seconds per epoch and per-class report; return (y_pred, acc).

    ``x_test`` must be preprocessed as the model expects (normalised, padded...).
    """
    y_pred = minicnn.predict(model, x_test).argmax(axis=1)
    accuracy = accuracy_score(y_test, y_pred)
    print(f"\ntest accuracy: {accuracy:.2%} on {len(y_test):,} images")
    print(f"seconds per epoch (training): {np.median(history.seconds):.1f} (median), "
          f"{total_seconds:.0f} s in all")
    print(classification_report(y_test, y_pred, labels=list(range(len(class_names))),
                                target_names=class_names, digits=4))
    return y_pred, accuracy


def pyplot():
    """``matplotlib.pyplot`` with the file-only backend: no window, works on a server or in CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def classification_figures(model, history, images, y_true, y_pred, class_names) -> dict:
    """The four figures of ``CLASSIFICATION_FIGURES``: training curves, confusion matrix (with
    the class names), first-layer filters and up to 32 misclassified test images.

    ``images`` are the test images as they should be shown (before normalisation is best).
    With no mistakes there is no misclassified.png.
    """
    pyplot()
    from minicnn import viz

    labels = list(range(len(class_names)))
    figures = {
        "curves.png": viz.plot_history(history),
        "confusion_matrix.png": viz.plot_confusion_matrix(
            confusion_matrix(y_true, y_pred, labels=labels), class_names=class_names),
        "filters.png": viz.show_filters(model),
    }
    wrong = np.flatnonzero(y_pred != y_true)[:32]
    if len(wrong):
        figures["misclassified.png"] = viz.show_images(
            images[wrong], labels=y_true[wrong], predictions=y_pred[wrong],
            class_names=class_names)
    return figures


def save_figure(figure, path) -> None:
    """Write ``figure`` to ``path`` atomically (the format from its suffix), then close it."""
    plt = pyplot()
    image_format = os.path.splitext(path)[1].lstrip(".") or "png"
    try:
        with atomic_write(path) as f:
            figure.savefig(f, format=image_format, dpi=100, bbox_inches="tight")
    finally:
        plt.close(figure)


def save_json(path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically; NumPy numbers and arrays become plain ones."""
    def plain(value):
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        raise TypeError(f"save_json: cannot write {type(value).__name__}")

    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=plain)


def save_run(out, model=None, history=None, figures=None, metadata=None) -> list:
    """Write the weights (``model.npz``), the history (``history.json``) and the figures to
    ``out``; print and return the file names. Each is written atomically by its writer."""
    written = []
    if model is not None:
        minicnn.save(model, os.path.join(out, MODEL_FILE), metadata=metadata)
        written.append(MODEL_FILE)
    if history is not None:
        history.save_json(os.path.join(out, HISTORY_FILE))
        written.append(HISTORY_FILE)
    for name, figure in (figures or {}).items():
        save_figure(figure, os.path.join(out, name))
        written.append(name)
    print(f"wrote {', '.join(written)} to {out}")
    return written
