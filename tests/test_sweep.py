"""Tests of the compression-sweep runner: grid, resume, sharding over devices, tables, bad input."""

import csv
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import sweep_mnist
from sgb_jax import sweep
from sgb_jax.dgb import train as dgb_train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config():
    return sweep_mnist.get_config("test")


def fake_cell(config, cell, workdir, datasets):
    """A cheap deterministic JAX computation standing in for a training run."""
    key = jax.random.fold_in(jax.random.key(cell.seed), sum(cell.level) + len(cell.method))
    acc = jax.jit(lambda k: jnp.mean(jax.nn.sigmoid(jax.random.normal(k, (64,)))))(key)
    return {"innate_accuracy": float(acc), "innate_accuracy_sem": None,
            "mean_network_accuracy": None, "compression_ratio": 10.0 * (1 + sum(cell.level)),
            "train_seconds": 0.0}


def test_grid_has_every_method_level_and_seed():
    c = _config()
    cells = sweep.cells(c)
    assert len(cells) == (2 + 2 + 1) * 2
    assert len({cell.id for cell in cells}) == len(cells)
    assert sweep.Cell("dgb", (10, 5), 1).id == "dgb_10-5_seed1"


def test_resume_skips_finished_cells_and_reruns_unfinished(tmp_path):
    c = _config()
    calls = []

    def counting(config, cell, workdir, datasets):
        calls.append(cell.id)
        return fake_cell(config, cell, workdir, datasets)

    rows = sweep.run_sweep(c, str(tmp_path), datasets=(), cell_fn=counting)
    assert len(rows) == len(sweep.cells(c)) == len(calls)
    # A killed sweep leaves no file for the cell in flight (and maybe a stray temp file).
    victim = sweep.cells(c)[3]
    os.remove(sweep.cell_path(str(tmp_path), victim))
    calls.clear()
    rows2 = sweep.run_sweep(c, str(tmp_path), datasets=(), cell_fn=counting)
    assert calls == [victim.id]
    strip = [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows]
    assert [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows2] == strip
    calls.clear()
    sweep.run_sweep(c, str(tmp_path), datasets=(), cell_fn=counting)
    assert calls == []


def test_failed_cell_is_reported_and_leaves_others(tmp_path):
    c = _config()

    def failing(config, cell, workdir, datasets):
        if cell.method == "plain":
            raise RuntimeError("boom")
        return fake_cell(config, cell, workdir, datasets)

    with pytest.raises(RuntimeError, match="boom"):
        sweep.run_sweep(c, str(tmp_path), datasets=(), cell_fn=failing)
    done = os.listdir(tmp_path / "cells")
    assert len(done) == len(sweep.cells(c)) - 2
    assert not any(name.startswith("plain") for name in done)


def test_table_and_figure(tmp_path):
    c = _config()
    rows = sweep.run_sweep(c, str(tmp_path), datasets=(), cell_fn=fake_cell)
    out = sweep.write_table(rows, str(tmp_path), "MNIST")
    with open(tmp_path / "table.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    assert {"method", "compression_ratio", "seed", "innate_accuracy",
            "mean_network_accuracy"} <= set(table[0])
    assert (tmp_path / "figure.png").stat().st_size > 1000
    s = {(r["method"], r["level"]): r for r in out["summary"]}
    accs = [r["innate_accuracy"] for r in rows if r["method"] == "dgb" and r["level"] == "2"]
    assert s[("dgb", "2")]["innate_accuracy_mean"] == pytest.approx(np.mean(accs))
    assert s[("dgb", "2")]["innate_accuracy_sem"] == pytest.approx(
        np.std(accs, ddof=1) / np.sqrt(len(accs)))
    with open(tmp_path / "table.json") as f:
        assert len(json.load(f)["cells"]) == len(rows)


_SHARDED = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
    import jax
    from test_sweep import _config, fake_cell
    from sgb_jax import sweep
    rows = sweep.run_sweep(_config(), sys.argv[1], datasets=(), cell_fn=fake_cell)
    print(json.dumps({{"devices": len(jax.devices()),
                       "used": sorted({{r["device"] for r in rows}}),
                       "table": sorted((r["method"], r["level"], r["seed"], r["innate_accuracy"])
                                       for r in rows)}}))
""")


def _run_with_devices(n, workdir):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}",
               JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    code = _SHARDED.format(root=ROOT, tests=os.path.join(ROOT, "tests"))
    out = subprocess.run([sys.executable, "-c", code, str(workdir)], env=env, check=True,
                         capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sharded_over_8_fake_devices_gives_the_same_table(tmp_path):
    one = _run_with_devices(1, tmp_path / "one")
    eight = _run_with_devices(8, tmp_path / "eight")
    assert one["devices"] == 1 and eight["devices"] == 8
    assert len(eight["used"]) == 8  # 10 cells dealt over all 8 devices
    assert eight["table"] == one["table"]


def test_bad_inputs_name_the_field():
    c = _config()
    c.methods = ("sgb", "evolution")
    with pytest.raises(sweep.SweepConfigError, match="methods"):
        sweep.validate(c)
    c = _config()
    c.sgb_levels = (17,)  # 16 hidden neurons in the test config
    with pytest.raises(sweep.SweepConfigError, match="sgb_levels"):
        sweep.validate(c)
    c = _config()
    c.dgb_levels = ((500, 500),)
    with pytest.raises(sweep.SweepConfigError, match="dgb_levels"):
        sweep.validate(c)
    c = _config()
    c.dataset = "imagenet"
    with pytest.raises(sweep.SweepConfigError, match="dataset"):
        sweep.validate(c)


def test_missing_data_set_names_the_field(tmp_path):
    c = _config()
    c.dataset = "fashion_mnist"
    c.raw_dir = str(tmp_path / "nowhere")
    c.data_dir = str(tmp_path / "empty")
    os.makedirs(c.raw_dir)
    with pytest.raises(sweep.SweepConfigError, match="dataset 'fashion_mnist'"):
        sweep.load_datasets(c)


def test_real_plain_and_dgb_cells_run(tmp_path):
    """One tiny real cell per DGB-trainer method, through the runner's cell function."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (256, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 256).astype(np.int32)
    c = _config()
    c.methods = ("dgb", "plain")
    c.dgb_levels = ((2,),)
    c.seeds = (0,)
    rows = sweep.run_sweep(c, str(tmp_path), datasets=((x, y), (x[:64], y[:64])))
    by = {r["method"]: r for r in rows}
    assert by["plain"]["compression_ratio"] == 1.0
    plain, genome = dgb_train.check_compressible(sweep.dgb_config(c, sweep.cells(c)[0]))
    assert by["dgb"]["compression_ratio"] == pytest.approx(plain / genome)
    assert all(0.0 <= r["innate_accuracy"] <= 1.0 for r in rows)


# --- CIFAR-10 model (2 conv + 3 FC) used by the CIFAR sweep -------------------------------------

def _convnet(**kw):
    from sgb_jax import convnet

    return convnet.SGBConvNet((8, 8, 3), (4, 6), (12, 8), 10, 3, input_types=5, hidden_types=3,
                              **kw)


def test_convnet_mean_network_matches_deterministic_forward():
    model = _convnet()
    x = jax.random.uniform(jax.random.key(0), (4, 8, 8, 3))
    genome = model.init({"params": jax.random.key(1), "noise": jax.random.key(2)}, x)["params"]
    phen = model.apply({"params": genome}, None, method="develop")
    plain = model.plain()
    plain_tree = plain.init(jax.random.key(3), x)["params"]
    assert jax.tree.map(jnp.shape, phen) == jax.tree.map(jnp.shape, plain_tree)
    # Plain conv layers are copied unchanged into every phenotype.
    one = model.apply({"params": genome}, jax.random.key(4), method="develop")
    np.testing.assert_array_equal(one["conv_0"]["kernel"], genome["conv_0"]["kernel"])
    assert not np.allclose(one["dense_0"]["kernel"], phen["dense_0"]["kernel"])
    np.testing.assert_allclose(plain.apply({"params": phen}, x),
                               model.apply({"params": genome}, x, deterministic=True),
                               rtol=1e-5, atol=1e-5)
    prior = __import__("sgb_jax").priors.GaussianPrior(1.0)
    assert float(model.apply({"params": genome}, prior, None, method="kl")) > 0


def test_convnet_sgb_conv_option_and_fc_compression():
    from sgb_jax import compression, convnet

    model = _convnet(conv_types=(2, 2, 2, 2))
    x = jnp.ones((2, 8, 8, 3))
    genome = model.init({"params": jax.random.key(1), "noise": jax.random.key(2)}, x)["params"]
    assert genome["conv_0"]["mu"].shape == (2, 2, 2, 2)
    phen = model.apply({"params": genome}, jax.random.key(5), method="develop")
    assert phen["conv_1"]["kernel"].shape == (3, 3, 4, 6)
    plain = compression.param_count(phen)
    assert compression.param_count(genome) < plain
    assert convnet.conv_param_count(3, (4, 6), 3) == 3 * 3 * 3 * 4 + 4 + 3 * 3 * 4 * 6 + 6
    assert convnet.feature_shape((32, 32, 3), (16, 32)) == (8, 8, 32)
