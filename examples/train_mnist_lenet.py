"""Train LeNet-5 on MNIST and report honest test metrics and plots.

    python examples/train_mnist_lenet.py                 # modern LeNet-5: ReLU, max-pool
    python examples/train_mnist_lenet.py --classic       # LeCun et al. 1998: tanh, avg-pool, 32×32

The data are read from --data-dir, else $MINICNN_DATA, else ~/.cache/minicnn (downloaded and
checksum-verified there if missing, unless --no-download). 5,000 training images are held out for
validation; the 10,000 test images are used once, at the end.

Writes to --out: model.npz (weights), history.json, curves.png, confusion_matrix.png,
filters.png and misclassified.png.
"""

import argparse
import os
import sys
import time

import numpy as np

import minicnn
from minicnn import data, models, nn, optim
from minicnn.metrics import accuracy_score, classification_report, confusion_matrix

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the 60,000 training images, in [0, 1] units


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05, help="initial learning rate (cosine "
                        "annealed to 0 over the epochs)")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--data-dir", default=None,
                        help="dataset root (default: $MINICNN_DATA, else ~/.cache/minicnn)")
    parser.add_argument("--out", default=os.path.join("runs", "mnist_lenet"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classic", action="store_true",
                        help="the 1998 LeNet-5: tanh, average pooling, 32×32 padded input")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training images")
    parser.add_argument("--val-size", type=int, default=5000,
                        help="training images held out for validation (0 for none)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading missing files")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 2:
        parser.error("--limit must be at least 2")
    return args


def load_data(args):
    download = not args.no_download
    train = data.MNIST(args.data_dir, train=True, download=download)
    test = data.MNIST(args.data_dir, train=False, download=download)
    x, y = train.data, train.targets
    if args.limit is not None:
        x, y = x[:args.limit], y[:args.limit]
    val_size = min(args.val_size, len(x) // 5)
    if val_size > 0:
        (x_train, y_train), (x_val, y_val) = data.train_val_split(
            (x, y), val_size=val_size, seed=args.seed)
    else:
        x_train, y_train, x_val, y_val = x, y, None, None
    return (x_train, y_train), (x_val, y_val), (test.data, test.targets), test.classes


def main(argv=None) -> float:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    minicnn.manual_seed(args.seed)

    (x_train, y_train), (x_val, y_val), (x_test, y_test), class_names = load_data(args)
    input_size = 32 if args.classic else 28
    preprocess = [data.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    if args.classic:
        # LeCun et al. fed 32×32 images: the 28×28 digit centred in a blank border.
        preprocess.append(data.Pad(2, fill=-MNIST_MEAN / MNIST_STD))
    preprocess = data.Compose(preprocess)
    x_train, x_test = preprocess(x_train), preprocess(x_test)
    x_val = preprocess(x_val) if x_val is not None else None

    train_loader = data.DataLoader((x_train, y_train), batch_size=args.batch_size, shuffle=True,
                                   seed=args.seed)
    val_loader = (data.DataLoader((x_val, y_val), batch_size=1000) if x_val is not None
                  else None)

    if args.classic:
        model = models.lenet5(input_size=32, activation="tanh", pooling="avg")
    else:
        model = models.lenet5(input_size=28)
    print(minicnn.summary(model, (1, input_size, input_size)))
    print(f"training on {len(x_train):,} images, validating on "
          f"{0 if x_val is None else len(x_val):,}, testing on {len(x_test):,}")

    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    start = time.perf_counter()
    history = minicnn.fit(model, loss_fn, optimizer, train_loader, epochs=args.epochs,
                          val_loader=val_loader, scheduler=scheduler, verbose=not args.quiet)
    total = time.perf_counter() - start

    y_pred = minicnn.predict(model, x_test).argmax(axis=1)
    accuracy = accuracy_score(y_test, y_pred)
    print(f"\ntest accuracy: {accuracy:.2%} on {len(y_test):,} images")
    print(f"seconds per epoch (training): {np.median(history.seconds):.1f} (median), "
          f"{total:.0f} s in all")
    print(classification_report(y_test, y_pred, target_names=class_names, digits=4))

    save_outputs(args.out, model, history, x_test, y_test, y_pred, class_names)
    return accuracy


def save_outputs(out, model, history, x_test, y_test, y_pred, class_names) -> None:
    """Weights, history and the four figures, each written atomically by its writer."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no window, works on a server or in CI
    from minicnn import viz

    minicnn.save(model, os.path.join(out, "model.npz"))
    history.save_json(os.path.join(out, "history.json"))
    figures = {
        "curves.png": viz.plot_history(history),
        "confusion_matrix.png": viz.plot_confusion_matrix(
            confusion_matrix(y_test, y_pred, labels=list(range(10))), class_names=class_names),
        "filters.png": viz.show_filters(model),
    }
    wrong = np.flatnonzero(y_pred != y_test)[:32]
    if len(wrong):
        figures["misclassified.png"] = viz.show_images(
            x_test[wrong], labels=y_test[wrong], predictions=y_pred[wrong],
            class_names=class_names)
    for name, figure in figures.items():
        figure.savefig(os.path.join(out, name), dpi=100, bbox_inches="tight")
    print(f"wrote {', '.join(['model.npz', 'history.json', *figures])} to {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
