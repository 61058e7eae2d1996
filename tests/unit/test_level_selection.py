"""Choosing levels of a factor's random-effect draws (Fit.effects' selection)."""

import numpy as np
import pytest
import xarray as xr

from lmm_bayes.errors import DesignError
from lmm_bayes.posterior import select_levels


def _effects() -> xr.DataArray:
    values = np.arange(2 * 3 * 4 * 2, dtype=float).reshape(2, 3, 4, 2)
    return xr.DataArray(values, dims=("chain", "draw", "g__level", "g__term"),
                        coords={"g__level": ["308", "309", "a", "b"],
                                "g__term": ["(Intercept)", "Days"]})


def test_levels_in_the_order_given_with_numbers_read_as_labels():
    chosen = select_levels(_effects(), "g", [309, "a"])
    assert list(chosen["g__level"].values) == ["309", "a"]
    np.testing.assert_array_equal(chosen.values[1, 2, 0], [42.0, 43.0])   # ((1·3 + 2)·4 + 1)·2
    np.testing.assert_array_equal(chosen.values[0, 0, 1], [4.0, 5.0])     # ((0·3 + 0)·4 + 2)·2


def test_unknown_level_is_named():
    with pytest.raises(DesignError, match=r"\['zz'\] are not levels of 'g'"):
        select_levels(_effects(), "g", ["a", "zz"])
