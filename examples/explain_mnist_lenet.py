"""Explain a LeNet-5 trained on MNIST: saliency, occlusion, activation maximisation, best patches.

    python examples/explain_mnist_lenet.py                        # trains 2 epochs first
    python examples/explain_mnist_lenet.py --model runs/mnist_lenet/model.npz   # or explains this

Every picture comes from the layers' own backward passes to the input (minicnn.explain); see
docs/explain.md. Training records the gradient flow (per-parameter gradient norms per epoch).

Writes to --out: model.npz, history.json, gradient_flow.png, saliency.png, occlusion.png,
class_images.png (the input each class score likes most), unit_images.png (the same for units
of --layer) and top_patches.png (the test patches that excite --unit of --layer most).
"""

import os

import _common as common
import numpy as np

import minicnn
from minicnn import data, explain, models, nn, optim, viz

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the 60,000 training images, in [0, 1] units


def parse_args(argv=None):
    parser = common.make_parser(__doc__, epochs=2, batch_size=64, lr=0.05,
                                out=os.path.join("runs", "explain_mnist"), test_limit_flag=True,
                                test_limit=2000)
    parser.add_argument("--model", default=None,
                        help="a LeNet-5 model.npz to explain (default: train one first)")
    parser.add_argument("--layer", default="features.3", help="the layer whose units to show")
    parser.add_argument("--unit", type=int, default=0, help="the unit of --layer for top patches")
    parser.add_argument("--steps", type=int, default=200, help="activation maximisation steps")
    return common.parse_args(parser, argv)


def train(args, splits, preprocess):
    model = models.lenet5()
    if args.model:
        model.load_state_dict(minicnn.load(args.model))
        return model, None
    train_loader, val_loader = common.make_loaders(args, splits, train_transform=preprocess,
                                                   eval_transform=preprocess)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    history = minicnn.fit(model, nn.CrossEntropyLoss(), optimizer, train_loader,
                          epochs=args.epochs, val_loader=val_loader,
                          scheduler=optim.CosineAnnealingLR(optimizer, T_max=args.epochs),
                          verbose=not args.quiet, record_gradient_flow=True)
    return model, history


def maximised(model, layer, units, steps, shape=(1, 28, 28)):
    """A grid of the inputs that excite each unit most, titled with the activation reached."""
    results = [explain.activation_maximization(model, layer, unit, shape, steps=steps, seed=unit)
               for unit in units]
    names = [f"{layer} {unit}: {r.activations[-1]:.2f}" for unit, r in zip(units, results,
                                                                         strict=True)]
    return viz.show_images(np.stack([r.image for r in results]), labels=range(len(units)),
                           class_names=names, ncols=5)


def main(argv=None):
    args = parse_args(argv)
    splits = common.load_splits(data.MNIST, args)
    preprocess = data.Normalize((MNIST_MEAN,), (MNIST_STD,))
    model, history = train(args, splits, preprocess)

    x_test, y_test = preprocess(splits.test[0]), splits.test[1]
    y_pred = minicnn.predict(model, x_test).argmax(axis=1)
    print(f"test accuracy: {np.mean(y_pred == y_test):.2%} on {len(y_test):,} images")
    image, label = x_test[0], int(y_test[0])

    figures = {}
    if history is not None:
        figures["gradient_flow.png"] = viz.plot_gradient_flow(history)
    figures["saliency.png"] = viz.plot_saliency(image, explain.saliency(model, image, label))
    drop = explain.occlusion(model, image, label, patch=6, stride=2)
    print(f"occlusion of a {label}: the probability drops by up to {drop.max():.2f}")
    figures["occlusion.png"] = viz.plot_occlusion(image, drop, patch=6, stride=2)
    figures["class_images.png"] = maximised(model, "classifier.4", range(10), args.steps)
    n_units = min(10, explain.layer_output(model, x_test[:1], args.layer).shape[1])
    figures["unit_images.png"] = maximised(model, args.layer, range(n_units), args.steps)
    field = explain.receptive_field(model, args.layer)
    best = explain.top_patches(model, x_test, args.layer, args.unit, k=16)
    print(f"{args.layer} sees {field.size[0]}×{field.size[1]} pixels, every {field.jump[0]}; "
          f"unit {args.unit}'s best activations: {', '.join(f'{v:.2f}' for v in best.values[:5])}")
    figures["top_patches.png"] = viz.show_patches(
        best, title=f"{args.layer}, unit {args.unit}: the 16 test patches it likes most")
    common.save_run(args.out, model if args.model is None else None, history, figures)


if __name__ == "__main__":
    common.run(main)
