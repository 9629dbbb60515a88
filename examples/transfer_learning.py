"""Transfer learning on MNIST: features learnt on the digits 0–4, reused for the digits 5–9.

    python examples/transfer_learning.py
    python examples/transfer_learning.py --limit 5000 --epochs 1       # a quick look

1. LeNet-5 learns to tell the digits 0–4 apart; its weights are saved.
2. A new LeNet-5 for the digits 5–9 (label = digit − 5) loads every saved weight but the head
   (``models.load_backbone``), freezes them (``models.freeze``) and trains only its fresh head
   (``models.unfreeze``): a linear classifier on features learnt from other digits.
3. For comparison, the pretrained network gets a new head (``models.replace_head``) and is
   fine-tuned in all its layers.

Prints the test accuracy on 5–9 before fine-tuning (the random head: chance is 20%) and after
each fine-tuning, with its seconds per epoch: frozen layers need no weight gradients and no
updates, so freezing makes an epoch cheaper.

Writes to --out: pretrained_0_4.npz (the network of step 1), model.npz (step 2's),
history_pretrain.json, history.json (step 2's fine-tuning), results.json, curves.png,
confusion_matrix.png, filters.png and misclassified.png (step 2's, on the digits 5–9).
"""

import os
import time

import _common as common
import numpy as np

import minicnn
from minicnn import data, models, nn, optim

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def digits(xy, first: int, last: int):
    """The images of the digits first..last, relabelled 0..last−first (None stays None)."""
    if xy is None:
        return None
    x, y = xy
    keep = (y >= first) & (y <= last)
    return x[keep], y[keep] - first


def task(splits: common.Splits, first: int, last: int) -> common.Splits:
    """The same splits, restricted to the digits first..last."""
    return common.Splits(*(digits(xy, first, last) for xy in splits[:3]),
                         classes=splits.classes[first:last + 1])


def train(model, task_splits, args, title: str):
    """Train the parameters with ``requires_grad`` (the frozen ones are left out of the
    optimizer, so weight decay does not shrink them either); returns the History."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(f"\n{title}: training {sum(p.size for p in trainable):,} of "
          f"{model.num_parameters():,} parameters on {len(task_splits.train[0]):,} images")
    optimizer = optim.SGD(trainable, lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    train_loader, val_loader = common.make_loaders(args, task_splits, eval_batch_size=1000)
    return minicnn.fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, args.epochs,
                       val_loader=val_loader, scheduler=scheduler, verbose=not args.quiet)


def test_accuracy(model, task_splits) -> float:
    return minicnn.evaluate(model, data.DataLoader(task_splits.test, batch_size=1000)).accuracy


def fastest_step(model, task_splits, args, repeats: int = 10) -> float:
    """Seconds of the fastest of ``repeats`` training steps on one batch: forward, loss,
    backward, update. The minimum is the time least disturbed by other programs. The weights
    are put back afterwards."""
    x, y = (array[:args.batch_size] for array in task_splits.train)
    saved = model.state_dict()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                          momentum=args.momentum, weight_decay=args.weight_decay)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        loss_fn(model(x), y)
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
        times.append(time.perf_counter() - start)
    model.load_state_dict(saved)
    return min(times)


def main(argv=None) -> dict:
    parser = common.make_parser(__doc__, epochs=2, batch_size=64, lr=0.05, test_limit_flag=True,
                                out=os.path.join("runs", "transfer_learning"))
    args = common.parse_args(parser, argv)
    splits = common.load_splits(data.MNIST, args)
    normalize = data.Normalize(MNIST_MEAN, MNIST_STD)  # the same for both tasks
    splits = common.Splits(*((normalize(x), y) if x is not None else None
                             for x, y in (xy or (None, None) for xy in splits[:3])),
                           classes=splits.classes)
    old_task, new_task = task(splits, 0, 4), task(splits, 5, 9)

    # 1. Pretrain on the digits 0–4 and save the weights.
    pretrained = models.lenet5(num_classes=5)
    print(minicnn.summary(pretrained, (1, 28, 28)))
    history_pretrain = train(pretrained, old_task, args, "1. digits 0–4, from scratch")
    acc_old = test_accuracy(pretrained, old_task)
    print(f"test accuracy on 0–4: {acc_old:.2%}")
    backbone_file = os.path.join(args.out, "pretrained_0_4.npz")
    minicnn.save(pretrained, backbone_file)
    history_pretrain.save_json(os.path.join(args.out, "history_pretrain.json"))

    # 2. A new network for 5–9: the pretrained features, frozen, and a new head.
    model = models.lenet5(num_classes=5)
    report = models.load_backbone(model, backbone_file)  # every weight but the head's
    head = models.find_head(model)                       # "classifier.4"
    print(f"\nloaded {len(report.loaded)} pretrained arrays; the head ({head}) keeps its "
          f"fresh random weights: {', '.join(report.missing)}")
    models.freeze(model)
    models.unfreeze(dict(model.named_modules())[head])
    before = test_accuracy(model, new_task)
    print(f"test accuracy on 5–9 before fine-tuning (random head): {before:.2%}")
    history = train(model, new_task, args, "2. digits 5–9, features frozen, new head")
    frozen = test_accuracy(model, new_task)

    # 3. The same start, but every layer fine-tuned.
    models.replace_head(pretrained, num_classes=5)  # a fresh head; everything trainable
    history_full = train(pretrained, new_task, args, "3. digits 5–9, every layer fine-tuned")
    full = test_accuracy(pretrained, new_task)

    # Epoch times on a shared machine vary with the load; the fastest step is steadier.
    step_frozen = fastest_step(model, new_task, args)
    step_full = fastest_step(pretrained, new_task, args)
    epoch_frozen, epoch_full = np.median(history.seconds), np.median(history_full.seconds)
    print(f"\ntest accuracy on 5–9 ({len(new_task.test[1]):,} images), and training time:")
    print(f"  before fine-tuning (random head)  {before:7.2%}")
    print(f"  head only, features frozen        {frozen:7.2%}   {epoch_frozen:6.1f} s/epoch   "
          f"{1000 * step_frozen:6.1f} ms/step")
    print(f"  every layer fine-tuned            {full:7.2%}   {epoch_full:6.1f} s/epoch   "
          f"{1000 * step_full:6.1f} ms/step")
    print(f"freezing the features made a training step {step_full / step_frozen:.2f}× as fast "
          f"(fastest of 10 steps of {args.batch_size} images each)")

    y_test = new_task.test[1]
    y_pred = minicnn.predict(model, new_task.test[0]).argmax(axis=1)
    figures = common.classification_figures(model, history, new_task.test[0], y_test, y_pred,
                                            new_task.classes)
    results = {"accuracy_before": before, "accuracy_frozen": frozen, "accuracy_full": full,
               "seconds_per_epoch_frozen": epoch_frozen, "seconds_per_epoch_full": epoch_full,
               "seconds_per_step_frozen": step_frozen, "seconds_per_step_full": step_full,
               "speedup_per_step": step_full / step_frozen, "pretrained_accuracy_0_4": acc_old,
               "loaded": report.loaded, "head": report.missing}
    common.save_json(os.path.join(args.out, "results.json"), results)
    common.save_run(args.out, model, history, figures, metadata={"test_acc_5_9": frozen})
    return results


if __name__ == "__main__":
    common.run(main)
