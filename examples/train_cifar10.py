"""Train VGG-11, ResNet-20 or ResNet-18 on CIFAR-10, with the standard augmentation.

    python examples/train_cifar10.py --model resnet20      # He et al.'s CIFAR network, 0.27M
    python examples/train_cifar10.py --model vgg11         # VGG-11 with BatchNorm, 9.8M
    python examples/train_cifar10.py --model resnet18      # ImageNet's ResNet-18, small stem, 11M
    python examples/train_cifar10.py --model resnet20 --limit 2000 --epochs 1   # a quick look
    mpiexec -n 2 python -m mpi4py examples/train_cifar10.py --distributed --sync-bn  # 2 ranks

CIFAR-10 is read from --data-dir, else $MINICNN_DATA, else ~/.cache/minicnn, in its official
binary version (``<root>/cifar-10-batches-bin/``; downloaded and verified if missing, unless
--no-download). 5,000 training images are held out for validation; the 10,000 test images are
used once, at the end.

Each training batch is augmented as in He et al. 2016 (Sec. 4.2): padded by 4 pixels, a random
32×32 window cut out, mirrored left-right half of the time; then every channel is standardised
with CIFAR-10's mean and standard deviation (--no-augment: standardisation only). SGD with
momentum 0.9 and weight decay 5e-4; the learning rate follows a cosine from --lr to 0.

This is hours of CPU per epoch for VGG-11 and ResNet-18 in NumPy (check one epoch's time with
--limit first); ResNet-20 is the one to run on a laptop.

Writes to --out: checkpoint.npz after every epoch (--resume continues from it; history.json
then holds the resumed run's epochs), and at the end model.npz, history.json, curves.png,
confusion_matrix.png, filters.png and misclassified.png.
"""

import os
import time

import _common as common

import minicnn
from minicnn import data, models, nn, optim

# Per-channel (R, G, B) mean and standard deviation of the 50,000 training images, in [0, 1].
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

MODELS = {
    "vgg11": lambda: models.vgg11(num_classes=10, input_size=32, batch_norm=True),
    "resnet20": lambda: models.resnet20(num_classes=10, input_size=32),
    "resnet18": lambda: models.resnet18(num_classes=10, input_size=32),
}


def main(argv=None) -> float | None:
    parser = common.make_parser(__doc__, epochs=30, batch_size=128, lr=0.1, test_limit_flag=True,
                                out=os.path.join("runs", "cifar10"), distributed=True)
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet20")
    parser.add_argument("--no-augment", action="store_true",
                        help="no random crops or flips, only the per-channel normalisation")
    parser.add_argument("--resume", action="store_true",
                        help="continue from --out/checkpoint.npz (written after every epoch)")
    args = common.parse_args(parser, argv)
    splits = common.load_splits(data.CIFAR10, args)

    normalize = data.Normalize(CIFAR10_MEAN, CIFAR10_STD)
    augment = normalize if args.no_augment else data.Compose([
        data.RandomCrop(32, padding=4),
        data.RandomHorizontalFlip(),
        normalize,
    ])
    train_loader, val_loader = common.make_loaders(args, splits, train_transform=augment,
                                                   eval_transform=normalize)

    model = MODELS[args.model]()
    main = common.is_main(args)  # False on the ranks but 0 of --distributed: they only train
    if main:
        print(minicnn.summary(model, (3, 32, 32)))
        common.describe_splits(splits)
        print(f"model {args.model}, augmentation {'off' if args.no_augment else 'on'}")
    # --resume --distributed: the checkpoint of a --distributed run (its keys say "module.")
    model, train_loader, val_loader = common.distribute(args, model, train_loader, val_loader)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    # He et al. divided the learning rate by 10 at two milestones; a cosine has none to tune.
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    # An epoch can take an hour: a checkpoint after each one lets an interrupted run go on.
    checkpoint = os.path.join(args.out, "checkpoint.npz")
    first_epoch = 0
    if args.resume:
        first_epoch = minicnn.load_checkpoint(checkpoint, model, optimizer, scheduler,
                                              train_loader)["epoch"]
        if first_epoch >= args.epochs:
            parser.error(f"--resume: {checkpoint} is from epoch {first_epoch}; "
                         f"--epochs {args.epochs} leaves nothing to do")
        if main:
            print(f"resuming after epoch {first_epoch} from {checkpoint}")
    start = time.perf_counter()
    history = minicnn.fit(model, loss_fn, optimizer, train_loader, epochs=args.epochs,
                          val_loader=val_loader, scheduler=scheduler, verbose=not args.quiet,
                          initial_epoch=first_epoch, checkpoint_path=checkpoint)
    total = time.perf_counter() - start
    if not main:
        return None  # rank 0 alone tests, plots and writes
    model = common.unwrap(model)

    x_test, y_test = splits.test
    y_pred, accuracy = common.report_test(model, history, total, normalize(x_test), y_test,
                                          splits.classes)
    figures = common.classification_figures(model, history, x_test, y_test, y_pred,
                                            splits.classes)
    common.save_run(args.out, model, history, figures,
                    metadata={"test_acc": accuracy, "augment": not args.no_augment})
    return accuracy


if __name__ == "__main__":
    common.run(main)
