"""Train a small U-Net to segment canvases of MNIST digits, pixel by pixel, into 11 classes.

    python examples/train_unet_segmentation.py        # the defaults: mean IoU 0.54
    python examples/train_unet_segmentation.py --limit 200 --test-limit 50 --epochs 1  # a look
    mpiexec -n 2 python -m mpi4py examples/train_unet_segmentation.py --distributed --sync-bn

The data are ``data.MNISTCanvases``: 64×64 canvases with 2 to 4 real MNIST digits each, and a
mask that labels every pixel 0 (background) or 1 + d (a pixel of digit d), so the network must
find each digit's outline and say which digit it is. Training canvases are made of MNIST's
training digits, test canvases of its test digits. The loss is the cross-entropy of every pixel
(``nn.CrossEntropyLoss`` on (N, 11, 64, 64) logits and (N, 64, 64) labels), as in the paper.

The model is ``models.unet`` (Ronneberger et al. 2015) made small: 8 channels at the first
level, depth 3 (64 → 32 → 16 → 8 pixels and back), 3×3 convolutions padded to keep the size
("same", so the mask and the output line up without cropping), 2×2 transposed-convolution
up-sampling, BatchNorm after each convolution (121,123 parameters). Adam with batches of 8,
the learning rate cosine-annealed from --lr to 0 over 4 epochs.

Measured with the defaults (fast engine) on the course machine, 2 cores shared with other jobs
(load average 13 to 17 during the run): mean IoU 0.539 over the 11 classes on the 500 test
canvases, pixel accuracy 97.39%, after 873 s of training (4 epochs of 1,800 canvases). IoU per
class: background 1.00, digits 0.01 (5, mostly taken for 3) to 0.84 (1); more epochs help.
With --binary (background or digit): mean IoU 0.992 in 839 s. Where the time goes (CPU time
per layer type, one training step): the 3×3 convolutions about 80%, the transposed
convolutions about 9% (they have no fast kernel yet and run the reference's), BatchNorm 6%,
ReLU, Cat and CenterCrop2d together about 5%.

Writes to --out: model.npz, history.json, curves.png and masks.png (test canvases, their true
masks and the predicted ones, side by side).
"""

import os
import time

import _common as common

import minicnn
from minicnn import data, metrics, models, nn, optim


def load_canvases(args):
    """Training, validation and test canvases, seeded, from MNIST in --data-dir."""
    download = not args.no_download
    train = data.MNISTCanvases(args.data_dir, train=True, n=args.limit, binary=args.binary,
                               seed=args.seed, download=download)
    test = data.MNISTCanvases(args.data_dir, train=False, n=args.test_limit, binary=args.binary,
                              seed=args.seed + 1, download=download)
    val_size = min(args.val_size, len(train) // 5)
    xy = (train.data, train.targets)
    (x, y), val = data.train_val_split(xy, val_size=val_size, seed=args.seed) if val_size \
        else (xy, None)
    return common.Splits((x, y), val, (test.data, test.targets), train.classes)


def masks_figure(images, y_true, y_pred, class_names):
    """Rows of (canvas, true mask, predicted mask), the masks in one colour per class."""
    plt = common.pyplot()
    rows = len(images)
    figure, axes = plt.subplots(rows, 3, figsize=(6.6, 2.2 * rows), squeeze=False)
    cmap = plt.get_cmap("tab20", len(class_names))
    for row in range(rows):
        for col, (picture, title) in enumerate(((images[row, 0], "canvas"),
                                                (y_true[row], "true mask"),
                                                (y_pred[row], "predicted"))):
            ax = axes[row, col]
            if col == 0:
                ax.imshow(picture, cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(picture, cmap=cmap, vmin=-0.5, vmax=len(class_names) - 0.5,
                          interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(k)) for k in range(len(class_names))]
    figure.legend(handles, class_names, loc="lower center", ncol=6, fontsize=8)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return figure


def main(argv=None) -> float | None:
    parser = common.make_parser(__doc__, epochs=4, batch_size=8, lr=3e-3, weight_decay=0.0,
                                limit=2000, val_size=200, test_limit_flag=True, test_limit=500,
                                out=os.path.join("runs", "unet_segmentation"), distributed=True)
    parser.add_argument("--base-channels", type=int, default=8,
                        help="channels of the U-Net's first level (the paper: 64)")
    parser.add_argument("--depth", type=int, default=3, help="number of 2×2 poolings")
    parser.add_argument("--binary", action="store_true",
                        help="two classes (background, digit) instead of 11")
    args = common.parse_args(parser, argv)
    splits = load_canvases(args)
    num_classes = len(splits.classes)
    train_loader, val_loader = common.make_loaders(args, splits, eval_batch_size=100)

    model = models.unet(in_channels=1, num_classes=num_classes, base_channels=args.base_channels,
                        depth=args.depth, padding="same", batch_norm=True)
    if common.is_main(args):
        print(minicnn.summary(model, (1, 64, 64)))
        common.describe_splits(splits)
    # On 2 ranks each BatchNorm sees 4 canvases of the batch of 8: --sync-bn normalises with 8.
    model, train_loader, val_loader = common.distribute(args, model, train_loader, val_loader)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    start = time.perf_counter()
    history = minicnn.fit(model, loss_fn, optimizer, train_loader, epochs=args.epochs,
                          val_loader=val_loader, scheduler=scheduler, verbose=not args.quiet)
    seconds = time.perf_counter() - start
    if not common.is_main(args):
        return None  # rank 0 alone tests, plots and writes
    model = common.unwrap(model)

    x_test, y_test = splits.test
    y_pred = minicnn.predict(model, x_test, batch_size=100).argmax(axis=1)
    iou = metrics.iou_score(y_test, y_pred, num_classes)
    miou = metrics.mean_iou(y_test, y_pred, num_classes)
    accuracy = metrics.pixel_accuracy(y_test, y_pred)
    print(f"\ntest: mean IoU {miou:.3f}, pixel accuracy {accuracy:.2%} on {len(y_test):,} "
          f"canvases; {seconds:.0f} s of training")
    print("IoU per class: " + ", ".join(f"{name} {value:.2f}"
                                        for name, value in zip(splits.classes, iou, strict=True)))

    from minicnn import viz

    figures = {"curves.png": viz.plot_history(history),
               "masks.png": masks_figure(x_test[:6], y_test[:6], y_pred[:6], splits.classes)}
    common.save_run(args.out, model, history, figures,
                    metadata={"test_miou": miou, "test_pixel_accuracy": accuracy,
                              "train_seconds": seconds})
    return miou


if __name__ == "__main__":
    common.run(main)
