"""Supervised SGB training on real MNIST: learning, exact resumption, NaN guard, config errors."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np
import pytest

from configs import mnist_sgb
from sgb_jax.checkpoint import Checkpointer
from sgb_jax.supervised import config as config_lib
from sgb_jax.supervised import train

REPO = Path(__file__).resolve().parents[1]


def _small(mnist, n_train, n_test=2000):
    (xtr, ytr), (xte, yte) = mnist
    return (xtr[:n_train], ytr[:n_train]), (xte[:n_test], yte[:n_test])


def test_short_real_mnist_run_learns_well_above_chance(mnist, tmp_path):
    config = mnist_sgb.get_config("test")
    summary = train.train_and_evaluate(config, str(tmp_path), datasets=_small(mnist, 6000))
    assert summary["num_individuals"] == 5
    assert summary["innate_accuracy_mean"] > 0.6  # chance is 0.1
    assert summary["mean_network_accuracy"] > 0.6
    assert summary["compression_ratio"] > 150
    assert (tmp_path / "summary.json").exists() and (tmp_path / "metrics.jsonl").exists()


def _genome(config, workdir):
    return train.load_trained(config, str(workdir))[1]


def test_resumed_run_equals_uninterrupted_run(mnist, tmp_path):
    config = mnist_sgb.get_config("test")
    config.train.max_train_examples = 1280  # 10 steps per epoch
    config.train.epochs = 2
    config.train.checkpoint_every = 5
    data = _small(mnist, 1280, 500)
    train.train_and_evaluate(config, str(tmp_path / "a"), datasets=data)
    assert train.train_and_evaluate(config, str(tmp_path / "b"), datasets=data, stop_after=7) == {}
    assert Checkpointer(str(tmp_path / "b" / "checkpoints")).latest_step() == 5
    train.train_and_evaluate(config, str(tmp_path / "b"), datasets=data)  # resumes at step 5
    other = ml_collections.ConfigDict(config.to_dict())
    other.seed = config.seed + 1  # another run must not silently continue this one
    with pytest.raises(config_lib.ConfigError, match=r"seed: "):
        train.train_and_evaluate(other, str(tmp_path / "b"), datasets=data)
    ga, gb = _genome(config, tmp_path / "a"), _genome(config, tmp_path / "b")
    for a, b in zip(jax.tree_util.tree_leaves(ga), jax.tree_util.tree_leaves(gb), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(mnist, tmp_path):
    config = mnist_sgb.get_config("test")
    config.train.checkpoint_every = 10
    good = _small(mnist, 2560, 500)
    train.train_and_evaluate(config, str(tmp_path), datasets=good, stop_after=10)
    bad_x = good[0][0].copy()
    bad_x[:] = np.nan
    with pytest.raises(train.NonFiniteLossError, match="last good checkpoint") as err:
        train.train_and_evaluate(config, str(tmp_path), datasets=((bad_x, good[0][1]), good[1]))
    assert "step 10" in str(err.value)
    genome = _genome(config, tmp_path)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(genome))


@pytest.mark.parametrize("field,value,match", [
    ("dataset", "cifar100", "dataset must be one of"),
    ("model.kind", "rnn", "model.kind"),
    ("model.hidden_types", 900, "model.hidden_types"),
    ("model.input_types", 0, "model.input_types"),
    ("model.input_strategy", "blobs", "model.input_strategy"),
    ("model.output_types", 11, "model.output_types"),
    ("model.hidden_sizes", (), "model.hidden_sizes"),
    ("prior.pi", 2.0, "prior.pi"),
    ("prior.kind", "laplace", "prior.kind"),
    ("kl.scope", "layer", "kl.scope"),
    ("kl.weight", -1.0, "kl.weight"),
    ("train.learning_rate", -0.1, "train.learning_rate"),
    ("train.batch_size", 0, "train.batch_size"),
    ("train.lr_schedule", "step", "train.lr_schedule"),
    ("eval.num_individuals", 0, "eval.num_individuals"),
])
def test_invalid_config_raises_error_naming_the_field(field, value, match):
    config = mnist_sgb.get_config("cpu")
    section, _, name = field.rpartition(".")
    target = config[section] if section else config
    with target.ignore_type():
        target[name] = value
    with pytest.raises(config_lib.ConfigError, match=match):
        config_lib.validate(config)


def test_launcher_reports_missing_data_with_instructions(tmp_path):
    env = {**os.environ, "SGB_RAW_DATA": str(tmp_path / "no_raw"),
           "SGB_DATA_DIR": str(tmp_path / "no_prepared")}
    proc = subprocess.run(
        [sys.executable, "experiments/train_supervised.py", "--config=configs/mnist_sgb.py:test",
         f"--workdir={tmp_path / 'wd'}"], cwd=REPO, capture_output=True, text=True, timeout=300,
        env=env)
    assert proc.returncode != 0
    assert "data unavailable" in proc.stderr and "SGB_RAW_DATA" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_launcher_reports_bad_config_without_traceback():
    proc = subprocess.run(
        [sys.executable, "experiments/train_supervised.py", "--config=configs/mnist_sgb.py",
         "--config.model.hidden_types=5000", "--workdir=/tmp/sgb_never_written"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "invalid config" in proc.stderr and "model.hidden_types" in proc.stderr
    assert "Traceback" not in proc.stderr
