"""Why residual connections: deeper plain networks train *worse*, deeper ResNets do not.

    python examples/plain_vs_residual.py          # 20 and 56 layers, 5,000 images: ~8 minutes
    python examples/plain_vs_residual.py --depths 20 32 44 56 --limit 20000 --epochs 5
    mpiexec -n 2 python -m mpi4py examples/plain_vs_residual.py --distributed --sync-bn \
        --batch-size 32                           # 2 ranks, the same steps of 64 images

He et al. (2016) found that a deeper "plain" network (convolutions, BatchNorm and ReLU, simply
stacked) reaches a *higher training error* than a shallower one (their Figs. 1 and 6). It is not
overfitting, since the error on the training set itself is worse: the deeper network is harder
to optimise. This is the degradation problem. Identity shortcuts, each block computing
x + F(x) instead of F(x), remove it: ResNet-56 trains at least as well as ResNet-20.

For each depth d of --depths, this script trains plain-d and ResNet-d (He et al.'s CIFAR
networks, ``models.cifar_resnet(d, plain=...)``, here with a 1-channel stem) on the first
--limit images of Fashion-MNIST. The two differ only in the shortcuts, which have no
parameters, so they start from the very same weights; every network sees the same batches in
the same order, with the same SGD schedule (a short warm-up, then a cosine). The training loss
of every step is kept.

With the defaults (3 epochs, 234 steps of 64 images) plain-56 ends far behind plain-20 (a
training loss about 0.7 higher, here 1.19 against 0.52), while ResNet-56 stays close to
ResNet-20 (0.54 against 0.43) and far ahead of plain-56, from the same initial weights. Given
many more steps, ResNet-56 overtakes ResNet-20 (He et al.'s Fig. 6, right).

Before training, one batch goes forward and backward through each fresh network, and the norm
of the gradient ||dL/dW|| of each convolution's weight is recorded, from the first layer (next
to the input) to the last. With BatchNorm the gradient of a plain network does not vanish: it
grows layer after layer towards the input, by about a factor 1000 over plain-56 (BatchNorm
keeps the forward signal at scale, not the backward one; Yang et al. 2019), so its first layers
take huge, erratic steps. In a ResNet each block adds its gradient to the one that the
shortcut carries unchanged, and the norms stay within a small factor from end to end.

With --distributed (docs/distributed.md) each rank trains on its shard of every batch, so the
step is of --batch-size times the ranks; add --sync-bn for BatchNorm with the statistics of the
whole batch. Each step's loss (and the accuracy) is that of the whole batch: every rank's mean
loss, weighted by its samples, all-reduced (``common.global_batch``). The gradient norms at
initialisation are also those of the whole first batch: each rank backpropagates its part of
it, and the all-reduce of ``DistributedDataParallel`` averages the gradients, exactly as in a
training step. With --sync-bn both are one process's with --batch-size times the ranks, to
rounding; without it, each rank's BatchNorm normalises with its own shard's statistics. Rank 0
alone prints and writes.

Writes to --out: degradation.png (training loss; plain networks left, ResNets right, as in
He et al.'s Fig. 6), gradient_norms.png (||dL/dW|| per layer at initialisation, log scale) and
results.json (every number plotted, and the per-epoch results).
"""

import math
import os
import time

import _common as common
import numpy as np
from tqdm.auto import tqdm

import minicnn
from minicnn import data, models, nn, optim

FASHION_MEAN, FASHION_STD = 0.2860, 0.3530


def network_name(depth: int, plain: bool) -> str:
    return f"{'plain' if plain else 'ResNet'}-{depth}"


def conv_gradient_norms(model, x, y) -> list:
    """||dL/dW|| of every convolution weight after one forward and backward pass, input first."""
    loss_fn = nn.CrossEntropyLoss()
    model.zero_grad()
    loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    norms = [float(np.linalg.norm(p.grad)) for p in model.parameters() if len(p.shape) == 4]
    model.zero_grad()
    return norms


def learning_rate(step: int, total_steps: int, args) -> float:
    """A linear warm-up from 0 to --lr over --warmup steps (He et al. warmed ResNet-110 up too:
    a deep network's first steps are its wildest), then a cosine down to 0 at the last step."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(total_steps - args.warmup, 1)
    return args.lr * 0.5 * (1 + math.cos(math.pi * progress))


def train(model, loader, test_loader, args, name: str):
    """SGD with momentum and the schedule of ``learning_rate``, written out step by step.

    Returns the loss of every step (of the whole batch, all ranks' shards with --distributed)
    and a dict of lists per epoch. A network whose loss stops being finite (a learning rate too
    high for it) stops training there, on every rank alike: they all see the same loss.
    """
    main = common.is_main(args)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    step_losses, total_steps = [], args.epochs * len(loader)
    per_epoch = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": [],
                 "seconds": []}
    for epoch in range(args.epochs):
        loader.set_epoch(epoch)  # the same batches, in the same order, for every network
        model.train()
        correct, images, start = 0, 0, time.perf_counter()
        bar = tqdm(loader, desc=f"{name} epoch {epoch + 1}/{args.epochs}", leave=False,
                   disable=args.quiet or not main)
        for x, y in bar:
            optimizer.param_groups[0]["lr"] = learning_rate(len(step_losses), total_steps, args)
            logits = model(x)
            loss, batch_correct, batch_images = common.global_batch(
                args, loss_fn(logits, y), int(np.count_nonzero(logits.argmax(axis=1) == y)),
                len(y))
            if not math.isfinite(loss):
                if main:
                    print(f"{name}: the loss became {loss} at step {len(step_losses) + 1}; "
                          f"stopped (try a lower --lr)")
                return step_losses, per_epoch
            optimizer.zero_grad()
            model.backward(loss_fn.backward())
            optimizer.step()
            step_losses.append(loss)
            correct += batch_correct
            images += batch_images
        seconds = time.perf_counter() - start
        test = minicnn.evaluate(model, test_loader, loss_fn)  # over all ranks' shards
        for key, value in zip(per_epoch, (np.mean(step_losses[-len(loader):]), correct / images,
                                          test.loss, test.accuracy, seconds), strict=True):
            per_epoch[key].append(float(value))
        if main:
            print(f"{name:>10}  epoch {epoch + 1}/{args.epochs}  train loss "
                  f"{per_epoch['train_loss'][-1]:.4f} acc {correct / images:.2%}  test loss "
                  f"{test.loss:.4f} acc {test.accuracy:.2%}  {seconds:.1f} s "
                  f"({images / seconds:,.0f} img/s)")
    return step_losses, per_epoch


def smooth(values, window: int) -> np.ndarray:
    """Moving average over ``window`` steps (shorter series are left as they are)."""
    values = np.asarray(values, dtype=np.float64)
    if window < 2 or len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_degradation(results, depths, steps_per_epoch: int):
    """Training loss per step (thin) and its moving average (bold): plain left, ResNets right."""
    plt = common.pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True, layout="constrained")
    window = max(1, steps_per_epoch // 4)
    colours = plt.cm.viridis(np.linspace(0, 0.85, len(depths)))
    for ax, plain in zip(axes, (True, False), strict=True):
        for depth, colour in zip(depths, colours, strict=True):
            losses = results[network_name(depth, plain)]["step_losses"]
            steps = np.arange(1, len(losses) + 1) / steps_per_epoch
            ax.plot(steps, losses, color=colour, alpha=0.2, linewidth=0.8)
            averaged = smooth(losses, window)
            ax.plot(steps[len(steps) - len(averaged):], averaged, color=colour, linewidth=2,
                    label=network_name(depth, plain))
        ax.set_title("plain networks" if plain else "residual networks (ResNets)")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel(f"training loss (bold: mean of {window} steps)")
    return figure


def plot_gradient_norms(results, depths):
    """||dL/dW|| of each convolution at initialisation, one panel per depth, log scale."""
    plt = common.pyplot()
    figure, axes = plt.subplots(1, len(depths), figsize=(5 * len(depths), 3.8), squeeze=False,
                                layout="constrained")
    for ax, depth in zip(axes[0], depths, strict=True):
        for plain, style in ((True, "o--"), (False, "s-")):
            norms = results[network_name(depth, plain)]["grad_norms"]
            ax.plot(np.arange(1, len(norms) + 1), norms, style, markersize=3,
                    label=network_name(depth, plain))
        ax.set_yscale("log")
        ax.xaxis.get_major_locator().set_params(integer=True)  # layer numbers: no 2.5
        ax.set_title(f"{depth} layers, at initialisation")
        ax.set_xlabel("convolution (1 = next to the input)")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    axes[0, 0].set_ylabel("||dL/dW|| of the layer's weight")
    return figure


def main(argv=None) -> dict | None:
    parser = common.make_parser(__doc__, epochs=3, batch_size=64, lr=0.1, limit=5000,
                                val_size=0, test_limit_flag=True, test_limit=2000,
                                weight_decay=1e-4,
                                out=os.path.join("runs", "plain_vs_residual"),
                                lr_help="peak learning rate, reached after --warmup steps",
                                distributed=True)
    parser.add_argument("--warmup", type=int, default=50,
                        help="steps over which the learning rate rises linearly to --lr")
    parser.add_argument("--depths", type=int, nargs="+", default=[20, 56],
                        help="network depths, each 6n+2 (20, 32, 44, 56, 110, ...)")
    args = common.parse_args(parser, argv)
    if any(depth < 8 or (depth - 2) % 6 for depth in args.depths):
        parser.error(f"--depths must be 6n+2 (20, 32, 44, 56, ...), got {args.depths}")
    splits = common.load_splits(data.FashionMNIST, args)

    normalize = data.Normalize(FASHION_MEAN, FASHION_STD)
    loader = data.DataLoader(splits.train, batch_size=args.batch_size, shuffle=True,
                             drop_last=True, seed=args.seed, transform=normalize)
    test_loader = data.DataLoader(splits.test, batch_size=500, transform=normalize)
    main = common.is_main(args)
    if main:
        common.describe_splits(splits)
    loader, test_loader = common.shard_loaders(args, loader, test_loader)
    loader.set_epoch(0)
    first_x, first_y = next(iter(loader))  # the first training batch: for the gradient norms

    results = {}
    for depth in args.depths:
        for plain in (True, False):
            name = network_name(depth, plain)
            minicnn.manual_seed(args.seed)  # plain-d and ResNet-d: the same initial weights
            model = models.cifar_resnet(depth, num_classes=10, in_channels=1, input_size=28,
                                        plain=plain)
            model = common.distribute_model(args, model)  # rank 0's weights on every rank
            grad_norms = conv_gradient_norms(model, first_x, first_y)
            if main:
                print(f"\n{name}: {depth - 1} convolutions + 1 Linear, "
                      f"{model.num_parameters():,} parameters; at initialisation ||dL/dW|| is "
                      f"{grad_norms[0]:.3g} in the first convolution, {grad_norms[-1]:.3g} in "
                      f"the last")
            step_losses, per_epoch = train(model, loader, test_loader, args, name)
            results[name] = {"depth": depth, "plain": plain,
                             "parameters": model.num_parameters(), "grad_norms": grad_norms,
                             "step_losses": step_losses, **per_epoch}
    if not main:
        return None  # rank 0 alone prints the table and writes

    print(f"\n{'network':>10} {'parameters':>11} {'train loss':>11} {'train acc':>10} "
          f"{'test acc':>9} {'s/epoch':>8}   (last epoch)")
    for name, r in results.items():
        if r["train_loss"]:
            print(f"{name:>10} {r['parameters']:>11,} {r['train_loss'][-1]:>11.4f} "
                  f"{r['train_acc'][-1]:>10.2%} {r['test_acc'][-1]:>9.2%} "
                  f"{np.median(r['seconds']):>8.1f}")
    for plain in (True, False):
        shallow, deep = (results[network_name(d, plain)]["train_loss"]
                         for d in (min(args.depths), max(args.depths)))
        if len(args.depths) > 1 and shallow and deep:
            print(f"{network_name(max(args.depths), plain)} ends with a training loss "
                  f"{deep[-1] - shallow[-1]:+.4f} against {network_name(min(args.depths), plain)}")

    common.save_json(os.path.join(args.out, "results.json"),
                     {"args": vars(args), "networks": results})
    steps_per_epoch = len(loader)
    common.save_run(args.out, figures={
        "degradation.png": plot_degradation(results, args.depths, steps_per_epoch),
        "gradient_norms.png": plot_gradient_norms(results, args.depths),
    })
    return results


if __name__ == "__main__":
    common.run(main)
