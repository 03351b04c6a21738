"""Cell-type assignments: balance, tiles, validation errors."""

import numpy as np
import pytest

from sgb_jax import cell_types as ct


def test_contiguous_blocks_are_balanced_and_ordered():
    t = ct.contiguous(800, 50)
    counts = np.bincount(t)
    assert counts.shape == (50,) and counts.min() == counts.max() == 16
    assert np.all(np.diff(t) >= 0)
    uneven = np.bincount(ct.contiguous(10, 3))
    assert sorted(uneven.tolist()) == [3, 3, 4]


def test_tiles_make_a_spatial_grid():
    t = ct.tiles((28, 28), 30).reshape(28, 28)
    assert set(np.unique(t)) == set(range(30))
    # 30 = 5 rows x 6 cols: the top-left pixel and bottom-right pixel are types 0 and 29
    assert t[0, 0] == 0 and t[-1, -1] == 29
    # each tile is a contiguous rectangle: pixels of one type span a box containing only that type
    for k in range(30):
        rows, cols = np.nonzero(t == k)
        box = t[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert np.all(box == k)
    rgb = ct.tiles((4, 4, 3), 4)
    assert rgb.shape == (48,) and np.all(rgb.reshape(4, 4, 3)[..., 0] == rgb.reshape(4, 4, 3)[..., 2])


def test_random_is_balanced_and_seeded():
    a = ct.random_balanced(100, 7, seed=1)
    assert np.array_equal(np.sort(np.bincount(a)), np.sort(np.bincount(ct.contiguous(100, 7))))
    assert np.array_equal(a, ct.random_balanced(100, 7, seed=1))
    assert not np.array_equal(a, ct.random_balanced(100, 7, seed=2))


def test_one_hot_matches_assignment():
    t = ct.contiguous(6, 3)
    a = ct.one_hot(t, 3)
    assert a.shape == (6, 3) and np.array_equal(a.argmax(1), t) and np.all(a.sum(1) == 1)


@pytest.mark.parametrize("n,k,msg", [(10, 11, "must be <= 10"), (10, 0, ">= 1"),
                                     (10, 2.5, "integer")])
def test_bad_k_is_rejected_with_the_layer_name(n, k, msg):
    with pytest.raises(ct.CellTypeError, match=msg) as err:
        ct.CellTypeSpec(k).assign(n, "hidden_1")
    assert "hidden_1" in str(err.value)


def test_validate_rejects_empty_types_and_bad_strategy():
    with pytest.raises(ct.CellTypeError, match="own no neuron"):
        ct.validate(np.array([0, 0, 2]), 3)
    with pytest.raises(ct.CellTypeError, match="unknown cell-type strategy"):
        ct.CellTypeSpec(3, "blobs").assign(10)
    with pytest.raises(ct.CellTypeError, match="image_shape"):
        ct.CellTypeSpec(4, "tiles", (5, 5)).assign(30)
