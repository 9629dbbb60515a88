"""Train LeNet-5 on MNIST and report honest test metrics and plots.

    python examples/train_mnist_lenet.py                 # modern LeNet-5: ReLU, max-pool
    python examples/train_mnist_lenet.py --classic       # LeCun et al. 1998: tanh, avg-pool, 32×32
    mpiexec -n 2 python -m mpi4py examples/train_mnist_lenet.py --distributed   # on 2 ranks

The data are read from --data-dir, else $MINICNN_DATA, else ~/.cache/minicnn (downloaded and
checksum-verified there if missing, unless --no-download). 5,000 training images are held out for
validation; the 10,000 test images are used once, at the end.

Writes to --out: model.npz (weights), history.json, curves.png, confusion_matrix.png,
filters.png and misclassified.png.
"""

import os
import sys
import time

import _common as common

import minicnn
from minicnn import data, models, nn, optim

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the 60,000 training images, in [0, 1] units


def parse_args(argv=None):
    parser = common.make_parser(__doc__, epochs=8, batch_size=64, lr=0.05,
                                out=os.path.join("runs", "mnist_lenet"), distributed=True)
    parser.add_argument("--classic", action="store_true",
                        help="the 1998 LeNet-5: tanh, average pooling, 32×32 padded input")
    return common.parse_args(parser, argv)


def main(argv=None) -> float:
    args = parse_args(argv)
    splits = common.load_splits(data.MNIST, args)

    input_size = 32 if args.classic else 28
    preprocess = [data.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    if args.classic:
        # LeCun et al. fed 32×32 images: the 28×28 digit centred in a blank border.
        preprocess.append(data.Pad(2, fill=-MNIST_MEAN / MNIST_STD))
    preprocess = data.Compose(preprocess)
    train_loader, val_loader = common.make_loaders(args, splits, train_transform=preprocess,
                                                   eval_transform=preprocess,
                                                   eval_batch_size=1000)

    if args.classic:
        model = models.lenet5(input_size=32, activation="tanh", pooling="avg")
    else:
        model = models.lenet5(input_size=28)
    if common.is_main(args):
        print(minicnn.summary(model, (1, input_size, input_size)))
        common.describe_splits(splits)
    model, train_loader, val_loader = common.distribute(args, model, train_loader, val_loader)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    start = time.perf_counter()
    history = minicnn.fit(model, loss_fn, optimizer, train_loader, epochs=args.epochs,
                          val_loader=val_loader, scheduler=scheduler, verbose=not args.quiet)
    total = time.perf_counter() - start
    if not common.is_main(args):
        return history.val_acc[-1]  # rank 0 alone tests, plots and writes
    model = common.unwrap(model)  # the trained model itself, without the wrapper

    x_test, y_test = preprocess(splits.test[0]), splits.test[1]
    y_pred, accuracy = common.report_test(model, history, total, x_test, y_test, splits.classes)
    figures = common.classification_figures(model, history, x_test, y_test, y_pred,
                                            splits.classes)
    common.save_run(args.out, model, history, figures)
    return accuracy


if __name__ == "__main__":
    main(sys.argv[1:])
