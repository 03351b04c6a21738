"""Tests for sgb_jax.data: real MNIST / Fashion-MNIST / CIFAR-10 (JPEG) loads and clear errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from sgb_jax import data

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _raw_dir() -> Path | None:
    env = os.environ.get(data.RAW_ENV)
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return path if path.is_dir() else None


RAW = _raw_dir()
needs_raw = pytest.mark.skipif(
    RAW is None,
    reason=f"offline data not found: set {data.RAW_ENV} or provide ../shared/data "
    "(see ../shared/data/README.md)",
)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A fresh dir per session so the tests prepare the data themselves, not reuse a user cache.
    return tmp_path_factory.mktemp("sgb_data")


def _check_images(x: np.ndarray, shape: tuple[int, ...]) -> None:
    assert x.shape == shape
    assert x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0


@needs_raw
def test_mnist_test_split_and_cache(data_dir: Path) -> None:
    x, y = data.load("mnist", "test", data_dir=data_dir, raw_dir=RAW)
    _check_images(x, (10000, 28, 28, 1))
    assert y.dtype == np.int32
    assert np.bincount(y, minlength=10).tolist() == MNIST_TEST_COUNTS
    # Second call reads the cached arrays and gives the identical data.
    assert (data_dir / "sgb_arrays" / "mnist" / "test.npz").is_file()
    x2, y2 = data.load("mnist", "test", data_dir=data_dir, raw_dir=RAW)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert data.dataset_label("mnist", RAW) == "MNIST"


@needs_raw
def test_fashion_mnist_does_not_mix_with_mnist(data_dir: Path) -> None:
    # Shares archive file names with MNIST: a shared extract dir would silently return MNIST.
    x, y = data.load("fashion_mnist", "test", data_dir=data_dir, raw_dir=RAW)
    _check_images(x, (10000, 28, 28, 1))
    assert np.bincount(y, minlength=10).tolist() == [1000] * 10
    assert data.dataset_label("fashion_mnist") == "Fashion-MNIST"


@needs_raw
def test_cifar10_jpeg_test_split(data_dir: Path) -> None:
    start = time.perf_counter()
    x, y = data.load("cifar10", "test", data_dir=data_dir, raw_dir=RAW)
    print(f"cifar10 jpeg test split: {time.perf_counter() - start:.1f} s")
    _check_images(x, (10000, 32, 32, 3))
    assert y.dtype == np.int32
    assert np.bincount(y, minlength=10).tolist() == [1000] * 10
    # Shuffled, not class-sorted like the archive: the first 100 hold most classes.
    assert len(np.unique(y[:100])) >= 8
    assert data.dataset_label("cifar10", RAW) == "CIFAR-10 (JPEG)"


def test_bad_name_and_split() -> None:
    with pytest.raises(ValueError, match="mnist.*fashion_mnist.*cifar10"):
        data.load("imagenet", "test")
    with pytest.raises(ValueError, match="train.*test"):
        data.load("mnist", "validation")
    with pytest.raises(ValueError, match="cifar10"):
        data.dataset_label("svhn")


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_empty_raw_dir_says_how_to_supply(name: str, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    with pytest.raises(data.DataError) as err:
        data.load(name, "train", data_dir=tmp_path / "prepared", raw_dir=raw)
    msg = str(err.value)
    assert data.RAW_ENV in msg and "internet" in msg
    expected = "cifar10_jpeg.tar.gz" if name == "cifar10" else "train-images-idx3-ubyte.gz"
    assert expected in msg


def test_raw_dir_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(data.RAW_ENV, str(tmp_path))
    assert data.resolve_raw_dir() == tmp_path
    assert data.dataset_label("cifar10") == "CIFAR-10 (JPEG)"
    with pytest.raises(data.DataError, match=str(tmp_path)):
        data.load("fashion_mnist", "test", data_dir=tmp_path / "prepared")
    monkeypatch.delenv(data.RAW_ENV)
    assert data.resolve_raw_dir() is None
    assert data.dataset_label("cifar10") == "CIFAR-10"


def test_corrupt_archives_fail_checksum(tmp_path: Path) -> None:
    # Right file names, wrong bytes: tfds' checksum validation must reject them, as a DataError.
    folder = tmp_path / "raw" / "mnist"
    folder.mkdir(parents=True)
    for name in data.IDX_FILES:
        (folder / name).write_bytes(b"not an archive")
    with pytest.raises(data.DataError, match="tensorflow-datasets failed"):
        data.load("mnist", "test", data_dir=tmp_path / "prepared", raw_dir=tmp_path / "raw")


def test_online_without_network_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Port 9 on localhost refuses at once, standing in for a machine without internet.
    monkeypatch.delenv(data.RAW_ENV, raising=False)
    monkeypatch.setitem(data._DOWNLOAD_URLS, "mnist", "http://127.0.0.1:9/")
    with pytest.raises(data.DataError, match="unreachable") as err:
        data.load("mnist", "test", data_dir=tmp_path / "prepared")
    assert data.RAW_ENV in str(err.value)
