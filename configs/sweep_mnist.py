"""Compression sweep on MNIST (paper Fig. 2B): SGB hidden types and DGB g-net sizes x seeds.

Variants: `cpu` (runs on 2 CPU cores; shortened training), `paper` (5 seeds, paper-sized training),
`test` (seconds, for the test suite). `make(dataset, variant)` is shared by the Fashion-MNIST and
CIFAR-10 sweep configs. Compression levels (784-800-10): SGB hidden types 800 / 100 / 20 / 5 / 1 ->
~10x / 77x / 383x / 1479x / 6235x; DGB g-nets (1500,) / (200,) / GN20 (20, 10) / GN5 (10, 5) / (2,)
-> ~10x / 72x / 470x / 1038x / 3950x.
"""

import importlib.util
import os

import ml_collections
from ml_collections import config_dict

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name: str):
    """Sibling config module by path (config files are loaded by path, not as a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(_HERE, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make(dataset: str, variant: str) -> ml_collections.ConfigDict:
    if variant not in ("cpu", "paper", "test"):
        raise ValueError(f"unknown variant {variant!r}; choose cpu, paper or test")
    c = ml_collections.ConfigDict()
    c.dataset = dataset
    c.raw_dir = config_dict.placeholder(str)  # None -> env SGB_RAW_DATA
    c.data_dir = config_dict.placeholder(str)
    c.workdir = f"results/sweep_{dataset}"
    c.methods = ("sgb", "dgb", "plain")
    c.seeds = (0, 1, 2)
    c.sgb_levels = (800, 100, 20, 5, 1)
    c.dgb_levels = ((1500,), (200,), (20, 10), (10, 5), (2,))
    # Innate accuracy on the first N test images (None = all); CPU scale saves evaluation time.
    c.max_test_examples = config_dict.placeholder(int)

    sgb = _load("mnist_sgb").get_config("paper" if variant == "paper" else "cpu")
    sgb.dataset = dataset
    dgb = _load("dgb_mnist").get_config("paper" if variant == "paper" else "cpu")
    dgb.dataset = dataset
    if variant == "cpu":
        c.max_test_examples = 2000
        sgb.train.epochs = 1
        sgb.train.checkpoint_every = 10_000
        sgb.eval.num_individuals = 10
        dgb.dgb.iterations = 40
        dgb.dgb.pnet_samples = 2000
        dgb.dgb.gnet_steps = 30
        dgb.dgb.gnet_pairs = 4096
        dgb.dgb.mix_tau = 10.0
        dgb.dgb.eval_every = 40
    elif variant == "paper":
        c.seeds = (0, 1, 2, 3, 4)
        c.sgb_levels = (800, 400, 100, 50, 20, 10, 5, 2, 1)
        c.dgb_levels = ((1500,), (400,), (200,), (30, 10), (20, 10), (10, 5), (4, 2), (2,))
    else:  # test
        c.seeds = (0, 1)
        c.sgb_levels = (8, 1)
        c.dgb_levels = ((10, 5), (2,))
        sgb.model.hidden_sizes = (16,)
        sgb.train.epochs = 1
        sgb.train.max_train_examples = 256
        sgb.train.batch_size = 64
        sgb.eval.num_individuals = 2
        sgb.eval.chunk = 2
        dgb.model.hidden_sizes = (16,)
        dgb.max_train_examples = 256
        dgb.dgb.iterations = 4
        dgb.dgb.pnet_samples = 128
        dgb.dgb.pnet_batch_size = 64
        dgb.dgb.gnet_steps = 5
        dgb.dgb.gnet_pairs = 256
        dgb.dgb.eval_every = 4
    c.sgb = sgb
    c.dgb = dgb
    return c


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    return make("mnist", variant)
