"""Compression sweep on CIFAR-10 (paper Fig. 2D): 2 conv + 3 FC, only the FC layers compressed.

SGB: FC1 input 100 cell types, output 10, hidden types swept; DGB: g-nets over the FC layers (conv
feature codes: Gray column ++ Gray row ++ binary channel). Conv layers are plain and trained with the
genome; `compression_scope = "fc"` reports FC-layer compression (the table also keeps the
whole-network ratio). Offline, data come from the JPEG copy: figures say "CIFAR-10 (JPEG)".
Variants `cpu`, `paper`, `test` as in `configs/sweep_mnist.py`; `cpu` also trains both arms on the
first 10,000 training images only (two passes), since the conv layers dominate the CPU cost.
"""

import importlib.util
import os

import ml_collections


def _mnist():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sweep_mnist.py")
    spec = importlib.util.spec_from_file_location("sweep_mnist", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = _mnist().make("cifar10", variant)
    c.compression_scope = "fc"
    conv, kernel, hidden = ((32, 64), 5, (384, 192)) if variant == "paper" else \
        ((16, 32), 3, (256, 128))
    for sub in (c.sgb, c.dgb):
        sub.model.kind = "convnet"
        sub.model.conv_features = conv
        sub.model.kernel_size = kernel
        sub.model.hidden_sizes = hidden
    c.sgb.model.input_types = 100
    c.sgb.model.input_strategy = "contiguous"
    c.sgb.model.conv_types = None
    c.sgb_levels = (128, 32, 8, 2, 1)  # hidden types, both FC hidden layers
    c.dgb_levels = ((1000,), (200,), (30, 10), (10, 5), (2,))
    c.dgb.dgb.pnet_samples = 5000 if variant != "test" else 128
    if variant == "cpu":
        # The plain conv layers dominate the cost on CPU (a DGB cell at 40 x 5,000 examples took
        # > 15 min here): both arms see the first 10,000 training images twice.
        c.sgb.train.max_train_examples = 10_000
        c.sgb.train.epochs = 2
        # A compute shortcut, not a smaller data set: keep the full training set's ELBO weight
        # 1 / 50,000 (the default 1 / N_train would make the prior 5x stronger).
        c.sgb.kl.weight = 1.0 / 50_000
        c.dgb.max_train_examples = 10_000
        c.dgb.dgb.pnet_samples = 500  # 40 iterations x 500 = 2 passes
    if variant == "paper":
        c.sgb_levels = (192, 100, 50, 20, 10, 5, 2, 1)
    elif variant == "test":
        for sub in (c.sgb, c.dgb):
            sub.model.conv_features = (4, 8)
            sub.model.hidden_sizes = (16, 16)
        c.sgb.model.input_types = 10
        c.sgb_levels = (8, 1)
        c.dgb_levels = ((10, 5), (2,))
    return c
