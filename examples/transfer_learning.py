"""Transfer learning on MNIST: features learnt on the digits 0–4, reused for the digits 5–9.

    python examples/transfer_learning.py                              # about a minute
    python examples/transfer_learning.py --limit 5000 --epochs 1      # a quick look
    mpiexec -n 2 python -m mpi4py examples/transfer_learning.py --distributed --batch-size 32

1. LeNet-5 learns to tell the digits 0–4 apart; its weights are saved.
2. The digits 5–9 (label = digit − 5), the four scenarios of transfer learning:

   * linear SVM on features: the pretrained net as a fixed feature extractor
     (``models.extract_features`` of ``classifier.3``, its 84 units), and a linear SVM on them
     (``nn.Linear`` trained with the multi-class hinge loss, ``nn.HingeLoss(multiclass=True)``);
   * head only: the same idea inside the network: new LeNet-5s load every saved weight but the
     head's (``models.load_backbone``: the head, ``classifier.4``, stays freshly initialised),
     everything else frozen (``models.freeze``, ``models.unfreeze``), a softmax classifier;
   * convolutions frozen: the feature extractor (``model.features``) kept, the three Linear
     layers retrained (fine-tuning the top layers);
   * nothing frozen: every layer fine-tuned, starting from the pretrained weights;
   * from scratch: a new LeNet-5 trained on 5–9 from its initial weights, the baseline.

Prints the test accuracy on 5–9 before fine-tuning (a random head: chance would be 20%) and after
each fine-tuning, with its seconds per epoch. A frozen layer needs no weight gradient and no
update, so the more is frozen, the cheaper an epoch; the gradient with respect to each layer's
input is still computed through the frozen layers, so the saving is partial (on a quiet
machine about 1.7× for the head alone, 1.4× with the convolutions frozen).

With --distributed (docs/distributed.md) every network trained with SGD through ``fit`` (the
pretraining, head only, convolutions frozen, nothing frozen, from scratch) is data-parallel:
each rank trains on its shard of every batch, so a step is of --batch-size times the ranks,
and the replicas stay identical. Every rank therefore holds the same pretrained network and
loads its backbone from it, not from pretrained_0_4.npz, which rank 0 alone writes. The linear
SVM is different: a linear layer on 84 precomputed features, trained in a moment, for which
sharding would buy nothing but the features' extraction on every rank. Rank 0 alone extracts
the features and trains it, in steps of the whole batch (--batch-size times the ranks), so it
takes the steps one process takes with that batch; the other ranks go on to the next network
and wait for rank 0 there. Rank 0 alone tests, prints and writes.

Writes to --out: pretrained_0_4.npz (the network of step 1), model.npz, history.json,
curves.png, confusion_matrix.png, filters.png and misclassified.png (of the network with frozen
convolutions, on the digits 5–9), history_pretrain.json and results.json (every variant).
"""

import os

import _common as common
import numpy as np

import minicnn
from minicnn import data, models, nn, optim

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

VARIANTS = ("head only", "convolutions frozen", "nothing frozen")  # of the pretrained LeNet-5
SVM, SCRATCH = "linear SVM on features", "from scratch"
FEATURE_LAYER = "classifier.3"  # the 84 units after the second Linear layer and its ReLU
MAIN_VARIANT = "convolutions frozen"  # the one whose weights and figures are saved


def task(splits: common.Splits, first: int, last: int) -> common.Splits:
    """The images of the digits first..last, normalised, relabelled 0..last−first."""
    def pick(xy):
        if xy is None:
            return None
        x, y = xy
        keep = (y >= first) & (y <= last)
        return data.Normalize(MNIST_MEAN, MNIST_STD)(x[keep]), y[keep] - first

    return common.Splits(*(pick(xy) for xy in splits[:3]),
                         classes=splits.classes[first:last + 1])


def freeze(model, variant: str) -> None:
    """Freeze what ``variant`` keeps of the pretrained network (its new head always trains)."""
    if variant == "head only":
        models.freeze(model)
        models.unfreeze(dict(model.named_modules())[models.find_head(model)])  # classifier.4
    elif variant == "convolutions frozen":
        models.freeze(model.features)  # LeNet's feature extractor: conv, ReLU, pool, twice


def train(model, task_splits, args, title: str):
    """Train the parameters with ``requires_grad`` (the frozen ones are left out of the
    optimizer, so weight decay does not shrink them either); returns (model, History).

    With --distributed the model trains in ``DistributedDataParallel``, each rank on its
    shard; the model returned is the plain, trained one."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if common.is_main(args):
        print(f"\n{title}: training {sum(p.size for p in trainable):,} of "
              f"{model.num_parameters():,} parameters on {len(task_splits.train[0]):,} images")
    optimizer = optim.SGD(trainable, lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    train_loader, val_loader = common.make_loaders(args, task_splits, eval_batch_size=1000)
    model, train_loader, val_loader = common.distribute(args, model, train_loader, val_loader)
    history = minicnn.fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, args.epochs,
                          val_loader=val_loader, scheduler=scheduler, verbose=not args.quiet)
    return common.unwrap(model), history


def test_accuracy(model, task_splits) -> float:
    return minicnn.evaluate(model, data.DataLoader(task_splits.test, batch_size=1000)).accuracy


def features_of(pretrained, task_splits) -> common.Splits:
    """The task's images replaced by the pretrained network's features at FEATURE_LAYER."""
    def extract(xy):
        if xy is None:
            return None
        return models.extract_features(pretrained, xy[0], layer=FEATURE_LAYER).features, xy[1]

    return common.Splits(*(extract(xy) for xy in task_splits[:3]), classes=task_splits.classes)


def linear_svm(pretrained, task_splits, args) -> tuple[dict, nn.Module]:
    """A linear SVM on the frozen features: the first scenario, outside the network.

    In one process, whatever --distributed says: with it, rank 0 alone calls this, with
    batches of --batch-size times the ranks (the module docstring)."""
    args = common.single_process(args)
    feature_splits = features_of(pretrained, task_splits)
    minicnn.manual_seed(args.seed)
    svm = nn.Linear(feature_splits.train[0].shape[1], len(task_splits.classes))
    before = test_accuracy(svm, feature_splits)
    print(f"\n2. digits 5–9, {SVM}: training {svm.num_parameters():,} parameters on the "
          f"{svm.in_features} features of {FEATURE_LAYER}")
    optimizer = optim.SGD(svm.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    train_loader, val_loader = common.make_loaders(args, feature_splits, eval_batch_size=1000)
    history = minicnn.fit(svm, nn.HingeLoss(multiclass=True), optimizer, train_loader,
                          args.epochs, val_loader=val_loader,
                          scheduler=optim.CosineAnnealingLR(optimizer, T_max=args.epochs),
                          verbose=not args.quiet)
    return {"trainable_parameters": svm.num_parameters(), "accuracy_before": before,
            "accuracy": test_accuracy(svm, feature_splits),
            "seconds_per_epoch": float(np.median(history.seconds))}, svm


def main(argv=None) -> dict | None:
    parser = common.make_parser(__doc__, epochs=2, batch_size=64, lr=0.05, test_limit_flag=True,
                                out=os.path.join("runs", "transfer_learning"), distributed=True)
    args = common.parse_args(parser, argv)
    main = common.is_main(args)  # False on the ranks but 0 of --distributed: they only train
    splits = common.load_splits(data.MNIST, args)
    old_task, new_task = task(splits, 0, 4), task(splits, 5, 9)

    # 1. Pretrain on the digits 0–4 and save the weights.
    pretrained = models.lenet5(num_classes=5)
    if main:
        print(minicnn.summary(pretrained, (1, 28, 28)))
    pretrained, history_pretrain = train(pretrained, old_task, args,
                                         "1. digits 0–4, from scratch")
    backbone_file = os.path.join(args.out, "pretrained_0_4.npz")
    if main:
        pretrained_accuracy = test_accuracy(pretrained, old_task)
        print(f"test accuracy on 0–4: {pretrained_accuracy:.2%}")
        minicnn.save(pretrained, backbone_file)
        history_pretrain.save_json(os.path.join(args.out, "history_pretrain.json"))
    # rank 0 alone writes the file; every rank holds the same pretrained weights
    backbone = pretrained if args.distributed else backbone_file

    # 2. The digits 5–9: a linear SVM on the pretrained features, then new networks with the
    # pretrained weights but a new head, part of them frozen, then one from scratch.
    results, networks = {}, {}
    if main:
        results[SVM], _ = linear_svm(pretrained, new_task, args)
    for variant in VARIANTS:
        minicnn.manual_seed(args.seed)  # the same new head for every variant
        model = models.lenet5(num_classes=5)
        report = models.load_backbone(model, backbone)  # every weight but the head's
        freeze(model, variant)
        if main:
            before = test_accuracy(model, new_task)
            print(f"\nloaded {len(report.loaded)} pretrained arrays; "
                  f"{', '.join(report.missing)} start random (test accuracy on 5–9: "
                  f"{before:.2%})")
        model, history = train(model, new_task, args, f"2. digits 5–9, {variant}")
        if main:
            networks[variant] = model, history
            results[variant] = {
                "trainable_parameters": model.num_parameters(trainable_only=True),
                "accuracy_before": before, "accuracy": test_accuracy(model, new_task),
                "seconds_per_epoch": float(np.median(history.seconds))}

    minicnn.manual_seed(args.seed)
    scratch = models.lenet5(num_classes=5)
    if main:
        before = test_accuracy(scratch, new_task)
    scratch, history = train(scratch, new_task, args, f"2. digits 5–9, {SCRATCH}")
    if not main:
        return None  # rank 0 alone tests, prints and writes
    results[SCRATCH] = {"trainable_parameters": scratch.num_parameters(),
                        "accuracy_before": before, "accuracy": test_accuracy(scratch, new_task),
                        "seconds_per_epoch": float(np.median(history.seconds))}

    full_epoch = results["nothing frozen"]["seconds_per_epoch"]
    print(f"\ntest accuracy on 0–4 of the pretrained network: {pretrained_accuracy:.2%}")
    print(f"test accuracy on 5–9 ({len(new_task.test[1]):,} images) before fine-tuning (the "
          f"random head) and after, and the training time per epoch (it varies with the "
          f"machine's load: compare on a quiet machine):")
    print(f"  {'':<20} {'trained':>9} {'before':>8} {'after':>8} {'s/epoch':>8} "
          f"{'speed-up':>9}")
    for variant, r in results.items():
        r["speedup"] = full_epoch / r["seconds_per_epoch"]
        print(f"  {variant:<20} {r['trainable_parameters']:>9,} {r['accuracy_before']:>8.2%} "
              f"{r['accuracy']:>8.2%} {r['seconds_per_epoch']:>8.1f} {r['speedup']:>8.2f}×")

    model, history = networks[MAIN_VARIANT]
    x_test, y_test = new_task.test
    y_pred = minicnn.predict(model, x_test).argmax(axis=1)
    figures = common.classification_figures(model, history, x_test, y_test, y_pred,
                                            new_task.classes)
    common.save_json(os.path.join(args.out, "results.json"), {
        "pretrained_accuracy_0_4": pretrained_accuracy, "loaded": report.loaded,
        "head": report.missing, "variants": results})
    common.save_run(args.out, model, history, figures,
                    metadata={"test_acc_5_9": results[MAIN_VARIANT]["accuracy"]})
    return results


if __name__ == "__main__":
    common.run(main)
