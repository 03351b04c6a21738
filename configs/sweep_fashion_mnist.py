"""Compression sweep on Fashion-MNIST (beyond the paper): the MNIST sweep's grid and training.

Variants `cpu`, `paper`, `test` as in `configs/sweep_mnist.py`.
"""

import importlib.util
import os

import ml_collections


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sweep_mnist.py")
    spec = importlib.util.spec_from_file_location("sweep_mnist", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make("fashion_mnist", variant)
