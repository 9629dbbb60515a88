"""Train ResNet-20 on Fashion-MNIST, with augmentation and a cosine schedule.

    python examples/train_fashion_resnet.py            # the defaults: ≥ 91% test accuracy
    python examples/train_fashion_resnet.py --limit 2000 --epochs 1 --test-limit 1000  # a look
    mpiexec -n 2 python -m mpi4py examples/train_fashion_resnet.py --distributed   # on 2 ranks

ResNet-20 is He et al.'s CIFAR-10 network (2016, Sec. 4.2): a 3×3 stem, three stages of three
residual blocks (16, 32 and 64 channels), global average pooling and one Linear layer. Here its
stem takes one channel and 28×28 images. Each training batch is augmented (a random shift of up
to 2 pixels and a random left-right mirror: a shirt mirrored is still a shirt), then normalised.
SGD with momentum 0.9 and weight decay 5e-4; the learning rate follows a cosine from --lr to 0.

The data are read from --data-dir, else $MINICNN_DATA, else ~/.cache/minicnn. 5,000 training
images are held out for validation; the 10,000 test images are used once, at the end.

Writes to --out: model.npz, history.json, curves.png, confusion_matrix.png, filters.png and
misclassified.png.
"""

import os
import time

import _common as common

import minicnn
from minicnn import data, models, nn, optim

FASHION_MEAN, FASHION_STD = 0.2860, 0.3530  # of the 60,000 training images, in [0, 1] units


def main(argv=None) -> float | None:
    parser = common.make_parser(__doc__, epochs=8, batch_size=128, lr=0.1, test_limit_flag=True,
                                out=os.path.join("runs", "fashion_resnet20"), distributed=True)
    args = common.parse_args(parser, argv)
    splits = common.load_splits(data.FashionMNIST, args)

    normalize = data.Normalize(FASHION_MEAN, FASHION_STD)
    augment = data.Compose([
        data.RandomCrop(28, padding=2),  # pad with black, cut a random 28×28 window
        data.RandomHorizontalFlip(),
        normalize,
    ])
    train_loader, val_loader = common.make_loaders(args, splits, train_transform=augment,
                                                   eval_transform=normalize)

    model = models.resnet20(num_classes=10, in_channels=1, input_size=28)
    if common.is_main(args):
        print(minicnn.summary(model, (1, 28, 28)))
        common.describe_splits(splits)
    model, train_loader, val_loader = common.distribute(args, model, train_loader, val_loader)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)  # one step per epoch
    start = time.perf_counter()
    history = minicnn.fit(model, loss_fn, optimizer, train_loader, epochs=args.epochs,
                          val_loader=val_loader, scheduler=scheduler, verbose=not args.quiet)
    total = time.perf_counter() - start
    if not common.is_main(args):
        return None  # rank 0 alone tests, plots and writes
    model = common.unwrap(model)
    images_per_epoch = len(splits.train[0])
    print(f"\n{min(history.seconds):.1f} s for the fastest epoch of {images_per_epoch:,} images: "
          f"{1000 * min(history.seconds) / images_per_epoch:.2f} s per 1,000 images")

    x_test, y_test = splits.test
    y_pred, accuracy = common.report_test(model, history, total, normalize(x_test), y_test,
                                          splits.classes)
    figures = common.classification_figures(model, history, x_test, y_test, y_pred,
                                            splits.classes)
    common.save_run(args.out, model, history, figures, metadata={"test_acc": accuracy})
    return accuracy


if __name__ == "__main__":
    common.run(main)
