"""The VGG19 lab: train VGG19 and ResNet-20 on one dataset and write the LaTeX report
Report.6.CNN.tex that compares them.

    python examples/vgg_vs_resnet_lab.py                        # Fashion-MNIST, the defaults
    python examples/vgg_vs_resnet_lab.py --dataset cifar10      # CIFAR-10 (binary version)
    python examples/vgg_vs_resnet_lab.py --image-folder PATH    # your own images
    python examples/vgg_vs_resnet_lab.py --limit 500 --epochs 1 --test-limit 200   # a look
    mpiexec -n 2 python -m mpi4py examples/vgg_vs_resnet_lab.py --distributed      # 2 ranks
    cd runs/vgg_vs_resnet && pdflatex Report.6.CNN.tex          # the report as a PDF

Both networks are the small-input versions: VGG19 with batch normalisation (16 convolutions
in five stages, each closed by a 2x2 max pool, then three Linear layers; ``models.vgg19(...,
input_size=28 or 32, batch_norm=True)``) and ResNet-20 (He et al. 2016, Sec. 4.2: a 3x3 stem,
three stages of three residual blocks, global average pooling, one Linear layer). They see the
same images in the same order: a random shift of up to 2 pixels and a random mirror, then
the per-channel standardisation measured on the training images. SGD with momentum and
weight decay; the learning rate follows a cosine from --lr to 0.

Data: Fashion-MNIST by default (28x28 grey), ``--dataset cifar10`` (32x32 colour), or
``--image-folder PATH`` with images in ``PATH/<class>/<file>`` (or ``PATH/train/<class>/...``
and ``PATH/test/<class>/...``; without them every fifth image of each class is the test set),
resized to 32x32 colour. Read from --data-dir, else $MINICNN_DATA, else ~/.cache/minicnn.
--limit keeps the first N training images (a fifth of them, at most --val-size, validate);
--test-limit the first N test images.

How long, and what it gives (measured on the project's 2-core AMD EPYC machine, 2026-12-07):
the defaults (8,000 training and 2,000 validation images, 3 epochs of batches of 64, 2,000
test images) ran in 49 minutes while three other jobs loaded the machine (load average 8-10):
VGG19 2,616 s of training and 49 s of testing, ResNet-20 243 s and 6 s; test accuracy VGG19
77.1% (macro F1 0.749), ResNet-20 83.5% (0.834). On the machine alone, 4,000 training images in
batches of 128 took 5 minutes in all (VGG19 ran at 58-70 images/s, ResNet-20 at 250-390), which
puts the defaults near 10 minutes; but with only 96 steps VGG19 reached 31% (ResNet-20 76%):
a deep plain network needs more steps than a residual one. Halve
--limit or --epochs to halve the time.

Writes to --out: Report.6.CNN.tex (article class, graphicx only: any standard LaTeX install
compiles it; tested with Debian's texlive-latex-base, pdfTeX, run twice for the table's
reference), the figures it includes (curves-vgg19.png, confusion-vgg19.png and the same
for resnet20), results.json (the per-class reports and the seconds) and each model's weights
(vgg19.npz, resnet20.npz).
"""

import os
import time

import _common as common
import numpy as np

import minicnn
from minicnn import data, models, nn, optim
from minicnn.io import atomic_write
from minicnn.metrics import classification_report, confusion_matrix, latex_escape

REPORT_FILE = "Report.6.CNN.tex"
# (file stem, name in the report, builder); the builders take (classes, channels, size).
MODELS = [
    ("vgg19", "VGG19",
     lambda classes, channels, size: models.vgg19(num_classes=classes, in_channels=channels,
                                                  input_size=size, batch_norm=True)),
    ("resnet20", "ResNet-20",
     lambda classes, channels, size: models.resnet20(num_classes=classes, in_channels=channels,
                                                     input_size=size)),
]
DATASETS = {"fashion-mnist": ("Fashion-MNIST", data.FashionMNIST),
            "cifar10": ("CIFAR-10", data.CIFAR10)}
IMAGE_FOLDER_SIZE = 32


# -- data ------------------------------------------------------------------------------------------
def load_data(args):
    """(splits, dataset name) for --dataset or --image-folder; see the module docstring."""
    if args.image_folder is None:
        name, dataset_class = DATASETS[args.dataset]
        return common.load_splits(dataset_class, args), name
    return load_image_folder(args), f"the images in {args.image_folder}"


def load_image_folder(args) -> common.Splits:
    root = args.image_folder
    size = (IMAGE_FOLDER_SIZE, IMAGE_FOLDER_SIZE)
    if os.path.isdir(os.path.join(root, "train")) and os.path.isdir(os.path.join(root, "test")):
        train = data.ImageFolder(os.path.join(root, "train"), size=size)
        test = data.ImageFolder(os.path.join(root, "test"), size=size)
        if test.classes != train.classes:
            raise ValueError(f"{root}: train/ has the classes {train.classes}, test/ "
                             f"{test.classes}; they must be the same")
        (x, y), (x_test, y_test) = (train.data, train.targets), (test.data, test.targets)
    else:
        train = data.ImageFolder(root, size=size)
        is_test = np.zeros(len(train.targets), dtype=bool)
        for label in np.unique(train.targets):  # every fifth image of each class
            is_test[np.flatnonzero(train.targets == label)[4::5]] = True
        x, y = train.data[~is_test], train.targets[~is_test]
        x_test, y_test = train.data[is_test], train.targets[is_test]
    order = np.random.default_rng(args.seed).permutation(len(y))  # classes are in folder order
    x, y = x[order][:args.limit], y[order][:args.limit]
    x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    val_size = min(args.val_size, len(x) // 5)
    val = None
    if val_size > 0:
        (x, y), val = data.train_val_split((x, y), val_size=val_size, seed=args.seed)
    return common.Splits((x, y), val, (x_test, y_test), list(train.classes))


def transforms(x_train: np.ndarray):
    """(training transform, evaluation transform): a shift of up to 2 pixels and a mirror, then
    standardisation with the training images' per-channel mean and deviation."""
    normalize = data.Normalize(x_train.mean(axis=(0, 2, 3)), x_train.std(axis=(0, 2, 3)) + 1e-6)
    augment = data.Compose([data.RandomCrop(x_train.shape[-1], padding=2),
                            data.RandomHorizontalFlip(), normalize])
    return augment, normalize


# -- training --------------------------------------------------------------------------------------
def train_and_test(stem, title, build, args, splits, augment, normalize) -> dict:
    """Train one network from the same seed and images; its summary, history, test predictions,
    report and seconds (None on the ranks but 0 of --distributed, which only train)."""
    x_train = splits.train[0]
    classes, channels, size = len(splits.classes), x_train.shape[1], x_train.shape[-1]
    minicnn.manual_seed(args.seed)
    model = build(classes, channels, size)
    summary = minicnn.summary(model, (channels, size, size))
    main = common.is_main(args)
    if main:
        print(f"\n{title}: {summary.total_params:,} parameters")
    train_loader, val_loader = common.make_loaders(args, splits, train_transform=augment,
                                                   eval_transform=normalize)
    model, train_loader, val_loader = common.distribute(args, model, train_loader, val_loader)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    start = time.perf_counter()
    history = minicnn.fit(model, nn.CrossEntropyLoss(), optimizer, train_loader,
                          epochs=args.epochs, val_loader=val_loader, scheduler=scheduler,
                          verbose=not args.quiet)
    train_seconds = time.perf_counter() - start
    if not main:
        return None
    model = common.unwrap(model)

    x_test, y_test = splits.test
    start = time.perf_counter()
    y_pred = minicnn.predict(model, normalize(x_test)).argmax(axis=1)
    test_seconds = time.perf_counter() - start
    labels = list(range(classes))
    report = classification_report(y_test, y_pred, labels=labels, target_names=splits.classes,
                                   digits=4, output="dict", zero_division=0.0)
    print(f"{title}: test accuracy {report['accuracy']:.2%}, {train_seconds:.0f} s training, "
          f"{test_seconds:.1f} s testing")
    return {"stem": stem, "title": title, "model": model, "summary": summary,
            "history": history, "y_pred": y_pred, "report": report,
            "latex_report": classification_report(
                y_test, y_pred, labels=labels, target_names=splits.classes, digits=4,
                output="latex", zero_division=0.0),
            "confusion": confusion_matrix(y_test, y_pred, labels=labels),
            "train_seconds": train_seconds, "test_seconds": test_seconds}


def figures(run: dict, class_names) -> dict:
    """The two figures of one network, by file name: training curves and confusion matrix."""
    common.pyplot()
    from minicnn import viz

    by_name = {f"curves-{run['stem']}.png": viz.plot_history(run["history"]),
               f"confusion-{run['stem']}.png": viz.plot_confusion_matrix(
                   run["confusion"], class_names=class_names)}
    for fig in by_name.values():
        fig.suptitle(run["title"])  # the two networks' figures side by side stay apart
    return by_name


# -- the report ------------------------------------------------------------------------------------
def comparison_table(runs: list, class_names) -> list:
    """Lines of a tabular: per class precision, recall and F1 of every network side by side, then
    the macro and weighted averages, the accuracy and the seconds."""
    columns = "l" + "rrr" * len(runs)
    lines = [r"\begin{tabular}{" + columns + "}", r"\hline",
             " & ".join(["", *(r"\multicolumn{3}{c}{" + run["title"] + "}" for run in runs)])
             + r" \\",
             " & ".join(["class", *(["precision", "recall", "F1"] * len(runs))]) + r" \\",
             r"\hline"]

    def row(heading, key):
        cells = [latex_escape(heading)]
        for run in runs:
            scores = run["report"][key]
            cells += [f"{scores[k]:.4f}" for k in ("precision", "recall", "f1-score")]
        return " & ".join(cells) + r" \\"

    lines += [row(name, name) for name in class_names]
    lines += [r"\hline", row("macro avg", "macro avg"), row("weighted avg", "weighted avg"),
              r"\hline"]

    def spanning(heading, values):
        return " & ".join([heading, *(r"\multicolumn{3}{c}{" + v + "}" for v in values)]) + r" \\"

    lines += [spanning("accuracy", [f"{run['report']['accuracy']:.4f}" for run in runs]),
              spanning("training seconds", [f"{run['train_seconds']:.1f}" for run in runs]),
              spanning("test seconds", [f"{run['test_seconds']:.1f}" for run in runs]),
              spanning("parameters", [f"{run['summary'].total_params:,}" for run in runs]),
              r"\hline", r"\end{tabular}"]
    return lines


def figure(files: list, caption: str) -> list:
    width = 0.95 / len(files)
    return [r"\begin{figure}[htbp]", r"\centering",
            *(r"\includegraphics[width=" + f"{width:.2f}" + r"\textwidth]{" + name + "}"
              for name in files),
            r"\caption{" + caption + "}", r"\end{figure}"]


def ascii_only(text: str) -> str:
    """Verbatim text as plain ASCII, which any LaTeX engine prints."""
    return text.encode("ascii", "replace").decode("ascii")


def per_rank(args) -> str:
    """", on each of p ranks" with --distributed (the batch is then p times larger), else ""."""
    if not getattr(args, "distributed", False):
        return ""
    from minicnn import distributed

    return f" on each of {distributed.world_size()} ranks"


def report_tex(runs: list, splits, dataset: str, args) -> str:
    """The whole of Report.6.CNN.tex."""
    n_val = 0 if splits.val is None else len(splits.val[0])
    names = [run["title"] for run in runs]
    best = max(runs, key=lambda run: run["report"]["accuracy"])
    lines = [r"\documentclass[11pt]{article}", r"\usepackage{graphicx}",
             r"\title{Report 6: " + " against ".join(names) + " on " + latex_escape(dataset) + "}",
             r"\author{written by minicnn's examples/vgg\_vs\_resnet\_lab.py}", r"\date{}",
             r"\begin{document}", r"\maketitle", "",
             r"\section{Setup}",
             f"Both networks were trained from scratch on {len(splits.train[0]):,} images "
             f"of {latex_escape(dataset)} ({len(splits.classes)} classes, "
             f"{'x'.join(map(str, splits.train[0].shape[1:]))} pixels), validated on "
             f"{n_val:,} and tested on {len(splits.test[0]):,}: {args.epochs} "
             f"epoch{'' if args.epochs == 1 else 's'} of "
             f"batches of {args.batch_size}{per_rank(args)}, SGD with momentum {args.momentum} "
             f"and weight decay {args.weight_decay}, the learning rate following a cosine "
             f"from {args.lr} to 0. "
             "Each training batch was shifted by up to 2 pixels and mirrored at random, then "
             "standardised per channel. The seed was " + f"{args.seed}; the engine "
             + latex_escape(minicnn.get_engine()) + ".", "",
             r"\section{Architectures}"]
    for run in runs:
        lines += [r"\subsection{" + run["title"] + "}",
                  f"{run['summary'].total_params:,} parameters. The layer table of "
                  r"\texttt{minicnn.summary}:", "", r"{\scriptsize", r"\begin{verbatim}",
                  ascii_only(str(run["summary"])), r"\end{verbatim}", "}", ""]
    lines += [r"\section{Training}",
              "Loss and accuracy per epoch, on the training and validation images.", ""]
    for run in runs:
        lines += figure([f"curves-{run['stem']}.png"], "Training curves of " + run["title"] + ".")
    lines += ["", r"\section{Results}",
              f"On the {len(splits.test[0]):,} test images {best['title']} is the more "
              "accurate (" + latex_escape(f"{best['report']['accuracy']:.2%}") + "). "
              r"Table~\ref{tab:comparison} gives precision, recall and F1 per class and "
              "averaged over the classes (macro) and weighted by their support, with the "
              "seconds each network took on this machine.", "",
              r"\begin{table}[htbp]", r"\centering", r"{\small",
              *comparison_table(runs, splits.classes), "}",
              r"\caption{" + " against ".join(names) + " on the test images.}",
              r"\label{tab:comparison}", r"\end{table}", ""]
    lines += figure([f"confusion-{run['stem']}.png" for run in runs],
                    "Confusion matrices (rows: true class, columns: predicted) of "
                    + " and ".join(names) + ".")
    for run in runs:
        lines += ["", r"\subsection{" + run["title"] + r": \texttt{classification\_report}}",
                  r"\begin{center}", run["latex_report"].rstrip("\n"), r"\end{center}"]
    lines += ["", r"\end{document}", ""]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------------
def main(argv=None) -> dict | None:
    parser = common.make_parser(__doc__, epochs=3, batch_size=64, lr=0.05, limit=10000,
                                test_limit_flag=True, test_limit=2000,
                                out=os.path.join("runs", "vgg_vs_resnet"), distributed=True)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="fashion-mnist")
    parser.add_argument("--image-folder", default=None, metavar="PATH",
                        help="train on PATH/<class>/<image> instead of --dataset")
    args = common.parse_args(parser, argv)
    splits, dataset = load_data(args)
    if common.is_main(args):
        common.describe_splits(splits)
    augment, normalize = transforms(splits.train[0])

    runs = [train_and_test(stem, title, build, args, splits, augment, normalize)
            for stem, title, build in MODELS]
    if not common.is_main(args):
        return None  # rank 0 alone tests and writes the report

    written = []
    for run in runs:
        for name, fig in figures(run, splits.classes).items():
            common.save_figure(fig, os.path.join(args.out, name))
            written.append(name)
        minicnn.save(run["model"], os.path.join(args.out, f"{run['stem']}.npz"))
        written.append(f"{run['stem']}.npz")
    common.save_json(os.path.join(args.out, "results.json"), {
        "dataset": dataset, "classes": splits.classes,
        "networks": {run["stem"]: {"title": run["title"], "report": run["report"],
                                   "train_seconds": run["train_seconds"],
                                   "test_seconds": run["test_seconds"],
                                   "parameters": run["summary"].total_params}
                     for run in runs}})
    with atomic_write(os.path.join(args.out, REPORT_FILE), "w",
                                 encoding="ascii") as f:
        f.write(report_tex(runs, splits, dataset, args))
    written += ["results.json", REPORT_FILE]
    print(f"wrote {', '.join(written)} to {args.out}")
    return {"y_true": splits.test[1], "classes": splits.classes,
            "networks": {run["stem"]: {"y_pred": run["y_pred"], "report": run["report"]}
                         for run in runs}}


if __name__ == "__main__":
    common.run(main)
