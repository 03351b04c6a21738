"""Shared fixtures: the offline raw-data folder and a cached MNIST load."""

import fcntl
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if "SGB_RAW_DATA" not in os.environ and _SHARED.is_dir():
    os.environ["SGB_RAW_DATA"] = str(_SHARED)


def raw_data_dir() -> Path | None:
    raw = os.environ.get("SGB_RAW_DATA")
    return Path(raw) if raw and Path(raw).is_dir() else None


@pytest.fixture(scope="session")
def mnist():
    """((x_train, y_train), (x_test, y_test)) of real MNIST; prepared once across workers."""
    if raw_data_dir() is None:
        pytest.skip("no offline MNIST: set SGB_RAW_DATA to a folder with mnist/ archives")
    from sgb_jax import data

    lock = Path(data.default_data_dir()) / ".sgb_prepare.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # xdist workers must not prepare the same data set at once
        train = data.load("mnist", "train")
        test = data.load("mnist", "test")
    return (np.asarray(train[0]), np.asarray(train[1])), (np.asarray(test[0]), np.asarray(test[1]))
