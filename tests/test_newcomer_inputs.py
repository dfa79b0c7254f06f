"""The shared validation (snn_validation) refuses at the root what used to pass silently:
fractions taken as integers (a seed of 0.7 was seed 0), booleans taken as integers, strings
read as numbers, complex numbers cut to their real part, None read as NaN, integers beyond
float64, lists or arrays compared element-wise with a name; sizes that cannot fit in memory
are refused before numpy tries (check_memory). Every refusal is a ValueError naming the
argument."""
from __future__ import annotations

import numpy as np
import pytest

import simulate
from simulate import encodings
import snn_validation as validation
import theory

NAN = float("nan")


@pytest.mark.parametrize("value", [0.7, 1.7, True, False, np.bool_(True), "3", None, [3], np.array(3), NAN,
                                   float("inf"), 1e300, -1, 2 + 0j])
def test_non_negative_int_refuses_fractions_bools_and_non_numbers(value):
    with pytest.raises(ValueError, match="^seed must be an integer >= 0"):
        validation.non_negative_int(value, "seed")


@pytest.mark.parametrize("value, expected", [(0, 0), (3, 3), (3.0, 3), (np.int64(4), 4), (np.float32(2.0), 2),
                                             (2 ** 70, 2 ** 70)])
def test_non_negative_int_keeps_integers_and_integral_floats(value, expected):
    out = validation.non_negative_int(value, "seed")
    assert out == expected and type(out) is int


@pytest.mark.parametrize("value", [1.7, 0.5, True, [1, True], np.array([True, False]), "2", b"2", None, [2, None],
                                   2 ** 53 + 2, 1e300, 10 ** 400, 1 + 1j, np.array([2 + 0j]), 0, -3,
                                   [[1], [1, 2]]])
def test_positive_int_refuses_fractions_bools_strings_and_sizes_beyond_2_53(value):
    with pytest.raises(ValueError, match="^width must be"):
        validation.positive_int(value, "width")


def test_positive_int_keeps_integral_values_and_arrays():
    assert validation.positive_int(784.0, "fan_in") == 784.0
    np.testing.assert_array_equal(validation.positive_int([1, 2, 3], "width"), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("value, fragment", [("1.0", "real number"), (True, "bool"), (1 + 2j, "complex"),
                                             (np.array([1 + 0j]), "complex"), (None, "real number"),
                                             ([1.0, None], "real number"), ({"a": 1}, "real number"),
                                             (np.array(["a"]), "real number"), ([1.0, NAN], "finite"),
                                             (10 ** 400, "real number")])
def test_as_float_array_names_the_argument_and_the_problem(value, fragment):
    with pytest.raises(ValueError, match=f"^threshold .*{fragment}"):
        validation.as_float_array(value, "threshold")


def test_scalar_refuses_an_array_where_one_number_belongs():
    with pytest.raises(ValueError, match=r"threshold must be a single number, got an array of shape \(2,\)"):
        validation.scalar([1.0, 2.0], "threshold")
    with pytest.raises(ValueError, match=r"std must be > 0"):
        validation.scalar(-1.0, "std", validation.positive)
    assert validation.scalar(np.float32(0.5), "beta", validation.unit_interval) == 0.5


@pytest.mark.parametrize("value", [["subtract"], np.array(["subtract"]), None, 1, {"subtract"}, b"subtract",
                                   "Subtract"])
def test_choice_compares_names_only_never_element_wise(value):
    with pytest.raises(ValueError, match=r"^reset must be one of \['none', 'subtract', 'zero'\]"):
        validation.choice(value, "reset", {"subtract", "zero", "none"})
    assert validation.choice(np.str_("zero"), "reset", ("subtract", "zero")) == "zero"


def test_check_memory_refuses_with_both_amounts_and_the_sizes():
    available = validation.available_memory()
    assert available is None or available > 0
    if available is None:
        pytest.skip("this system does not report its available memory")
    with pytest.raises(ValueError, match=r"^width=10\*\*9 x T=10 needs about .* of memory, more than the .* available"):
        validation.check_memory(8 * 10 ** 10 * 10, "width=10**9 x T=10")
    validation.check_memory(1024, "a small array")              # nothing happens
    validation.check_memory(available // 2, "half of it")


@pytest.mark.parametrize("call, fragment", [
    (lambda: simulate.gaussian_currents(10, 10 ** 6, 10 ** 5, 0), r"steps=10 x batch=1000000 x width=100000 needs"),
    (lambda: simulate.bernoulli_spikes(0.5, 10 ** 4, 10 ** 4, 10 ** 4, 0), "needs about"),
    (lambda: simulate.static_currents(np.ones((2, 3)), 10 ** 12), "steps=1000000000000"),
    (lambda: simulate.gaussian_currents([2, 3], 3, 4, 0), "steps must be a single number"),
    (lambda: simulate.gaussian_currents(2, 3, 4, 0, std=[1.0, 2.0]), "std must be a single number"),
    (lambda: simulate.gaussian_currents(2.5, 3, 4, 0), "steps must be a positive integer"),
    (lambda: simulate.gaussian_currents(True, 3, 4, 0), "steps .*bool"),
    (lambda: simulate.gaussian_currents(2, 3, 4, 0.7), "rng"),
    (lambda: simulate.gaussian_currents(2, 3, 4, True), "rng"),
    (lambda: simulate.static_currents(np.full((2, 3), 1e39), 2), "x must be representable in float32"),
    (lambda: encodings.pixel_currents([[1, 2]], 2), "images must be a"),
    (lambda: encodings.pixel_currents(np.ones((2, 3), np.uint8), 0), "steps"),
    (lambda: simulate.as_currents(np.ones((2, 3, 4)) + 1j), "array .*complex"),
])
def test_encodings_refuse_huge_sizes_and_wrong_kinds_naming_the_argument(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()


def test_encodings_unchanged_for_valid_input():
    """Same bits as before the checks (draws in float64, rounded to float32)."""
    rng = np.random.default_rng(3)
    expected = (1.5 * rng.standard_normal((2, 3, 4))).astype(np.float32)
    np.testing.assert_array_equal(simulate.gaussian_currents(2, 3, 4, 3, std=1.5), expected)
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(simulate.static_currents(x, 2), np.stack([x, x]).astype(np.float32))


@pytest.mark.parametrize("call", [
    lambda: theory.sample_weights("micheli", 10, 10, 0.7),          # was: seed 0
    lambda: theory.sample_weights("micheli", 10, 10, True),         # was: seed 1
    lambda: theory.propagate(True, 0.3, 100, 1.0),                  # was: depth 1
    lambda: theory.propagate(1.7, 0.3, 100, 1.0),
    lambda: theory.optimal_sigma(1.0, True),                        # was: fan_in 1
    lambda: theory.spike_count_chain(2, 10.5),
    lambda: theory.optimal_sigma_temporal(1.0, 100, 0.5, 4, seed=0.7, progress=False),   # was: seed 0
])
def test_theory_callers_refuse_fractions_and_bools_as_integers(call):
    with pytest.raises(ValueError):
        call()


def test_an_idx_header_whose_size_overflows_int64_is_called_truncated(tmp_path):
    """Was: the header's sizes multiplied in int64 and wrapped around (a silent wrong size)."""
    import struct

    from simulate.data import read_idx
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", *(2 ** 32 - 1,) * 3) + b"\0" * 10)
    needed = 16 + (2 ** 32 - 1) ** 3
    with pytest.raises(ValueError, match=f"is truncated: .* needs {needed} bytes, file has 26"):
        read_idx(path)


def test_a_dataset_of_float_images_with_nan_is_refused():
    from simulate.data import Dataset
    x = np.zeros((3, 4))
    x[1, 2] = NAN
    with pytest.raises(ValueError, match="x_train holds NaN"):
        Dataset("x", x, np.zeros(3, np.uint8), np.zeros((2, 4)), np.zeros(2, np.uint8))
