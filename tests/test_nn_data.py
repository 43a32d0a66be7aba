"""Tests of nn.data: the toy data sets, batching, splitting and CSV loading."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nn import data
from nn.data import DataError

GENERATORS = sorted(data.DATASETS.items())


def _close_points(a: list[list[float]], b: list[list[float]], tol: float = 1e-12) -> bool:
    return len(a) == len(b) and all(
        math.isclose(p, q, abs_tol=tol)
        for ra, rb in zip(sorted(a), sorted(b))
        for p, q in zip(ra, rb)
    )


def _linspace(start: float, stop: float, num: int, endpoint: bool = True) -> list[float]:
    np = pytest.importorskip("numpy")
    return [float(v) for v in np.linspace(start, stop, num, endpoint=endpoint)]


@pytest.mark.parametrize(("name", "make"), GENERATORS)
def test_generators_are_deterministic_and_well_formed(name: str, make: Callable[..., Any]) -> None:
    X, y = make(n_samples=57, seed=3)
    X2, y2 = make(n_samples=57, seed=3)
    X3, _ = make(n_samples=57, seed=4)
    assert (X, y) == (X2, y2)
    assert X != X3
    assert len(X) == len(y) == 57
    assert all(len(row) == 2 and all(isinstance(v, float) for v in row) for row in X)
    assert all(type(label) is int for label in y)
    assert set(y) == {0, 1}


def test_moons_are_scikit_learns_half_circles() -> None:
    X, y = data.make_moons(n_samples=31, noise=0.0, seed=0)
    outer = [[math.cos(t), math.sin(t)] for t in _linspace(0, math.pi, 15)]
    inner = [[1 - math.cos(t), 1 - math.sin(t) - 0.5] for t in _linspace(0, math.pi, 16)]
    assert _close_points([x for x, c in zip(X, y) if c == 0], outer)
    assert _close_points([x for x, c in zip(X, y) if c == 1], inner)


def test_moons_are_shuffled_then_jittered_with_gaussian_noise_of_the_given_std() -> None:
    clean, y_clean = data.make_moons(n_samples=4000, noise=0.0, seed=11)
    noisy, y_noisy = data.make_moons(n_samples=4000, noise=0.1, seed=11)
    assert y_clean == y_noisy  # same order: the shuffle happens before the noise
    assert y_clean[:40] != sorted(y_clean[:40])
    diffs = [n - c for rn, rc in zip(noisy, clean) for n, c in zip(rn, rc)]
    assert statistics.fmean(diffs) == pytest.approx(0.0, abs=0.005)
    assert statistics.pstdev(diffs) == pytest.approx(0.1, rel=0.03)


def test_circles_follow_scikit_learn() -> None:
    X, y = data.make_circles(n_samples=20, noise=0.0, seed=0, factor=0.3)
    outer = [[math.cos(t), math.sin(t)] for t in _linspace(0, 2 * math.pi, 10, endpoint=False)]
    inner = [
        [0.3 * math.cos(t), 0.3 * math.sin(t)]
        for t in _linspace(0, 2 * math.pi, 10, endpoint=False)
    ]
    assert _close_points([x for x, c in zip(X, y) if c == 0], outer)
    assert _close_points([x for x, c in zip(X, y) if c == 1], inner)


def test_xor_labels_are_the_quadrant_parity() -> None:
    X, y = data.make_xor(n_samples=200, noise=0.0, seed=5)
    assert all(label == int(x0 * x1 < 0) for (x0, x1), label in zip(X, y))
    assert all(-1 <= v <= 1 for row in X for v in row)


def test_spirals_have_one_arm_per_class_inside_the_unit_disc() -> None:
    X, y = data.make_spirals(n_samples=100, noise=0.0, seed=1, n_classes=3)
    assert Counter(y) == {0: 34, 1: 33, 2: 33}
    assert all(math.hypot(*row) <= 1 + 1e-12 for row in X)


def test_blobs_sit_on_their_centers() -> None:
    X, y = data.make_blobs(n_samples=10, noise=0.0, seed=0, centers=[[1.0, 2.0], [-3.0, 0.5]])
    assert Counter(y) == {0: 5, 1: 5}
    assert all(row == ([1.0, 2.0] if label == 0 else [-3.0, 0.5]) for row, label in zip(X, y))
    X, y = data.make_blobs(n_samples=7, noise=0.0, seed=0, centers=3)
    assert Counter(y) == {0: 3, 1: 2, 2: 2}
    assert all(-10 <= v <= 10 for row in X for v in row)


@given(st.integers(1, 300), st.integers(0, 2**32))
def test_moons_split_the_points_between_the_classes_like_scikit_learn(n: int, seed: int) -> None:
    X, y = data.make_moons(n_samples=n, seed=seed)
    assert len(X) == n
    assert Counter(y)[0] == n // 2
    assert Counter(y)[1] == n - n // 2


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: data.make_moons(n_samples=0), "n_samples"),
        (lambda: data.make_circles(noise=-1.0), "noise"),
        (lambda: data.make_circles(factor=1.5), "factor"),
        (lambda: data.make_spirals(n_classes=1), "n_classes"),
        (lambda: data.make_blobs(centers=0), "centers"),
        (lambda: data.make_xor(noise=math.nan), "noise"),
    ],
)
def test_bad_generator_arguments_are_data_errors(call: Callable[[], object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        call()
    assert issubclass(DataError, ValueError)


@given(st.integers(1, 60), st.one_of(st.none(), st.integers(1, 70)), st.integers(0, 100))
def test_batches_cover_every_example_once(n: int, batch_size: int | None, seed: int) -> None:
    X = [[float(i), -float(i)] for i in range(n)]
    y = list(range(n))
    import random

    got = list(data.batches(X, y, batch_size, rng=random.Random(seed)))
    size = n if batch_size is None else batch_size
    assert len(got) == math.ceil(n / size)
    assert all(len(xb) == len(yb) <= size for xb, yb in got)
    seen = [label for _, yb in got for label in yb]
    assert sorted(seen) == y
    assert all(x == [float(label), -float(label)] for xb, yb in got for x, label in zip(xb, yb))


def test_batches_shuffle_reproducibly_and_can_keep_order() -> None:
    import random

    X = [[float(i)] for i in range(20)]
    y = list(range(20))
    a = [yb for _, yb in data.batches(X, y, 5, rng=random.Random(1))]
    b = [yb for _, yb in data.batches(X, y, 5, rng=random.Random(1))]
    assert a == b
    assert [v for yb in a for v in yb] != y
    ordered = [v for _, yb in data.batches(X, y, 5, shuffle=False) for v in yb]
    assert ordered == y
    with pytest.raises(DataError, match="batch_size"):
        list(data.batches(X, y, 0))
    with pytest.raises(DataError, match="labels"):
        list(data.batches(X, y[:3], 5))


def test_train_test_split_partitions_the_data() -> None:
    X = [[float(i)] for i in range(50)]
    y = list(range(50))
    X_tr, y_tr, X_te, y_te = data.train_test_split(X, y, test_fraction=0.2, seed=3)
    assert len(y_te) == 10
    assert len(y_tr) == 40
    assert sorted(y_tr + y_te) == y
    assert all(x == [float(label)] for x, label in zip(X_tr + X_te, y_tr + y_te))
    with pytest.raises(DataError):
        data.train_test_split(X, y, test_fraction=1.0)


def test_load_csv_reads_features_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("x0,x1,label\n0.5,-1,1\n\n2e-3,3,0\n")
    X, y = data.load_csv(path)
    assert X == [[0.5, -1.0], [0.002, 3.0]]
    assert y == [1, 0]
    path.write_text("1,0.5,-1\n0,2.0,3\n")
    assert data.load_csv(path, label_column=0) == ([[0.5, -1.0], [2.0, 3.0]], [1, 0])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("a,b,label\n", "empty"),
        ("1,2,0\n1,2\n", "line 2: ragged row with 2 fields, expected 3"),
        ("1,2,0\n1,abc,1\n", r"line 2, column 2: 'abc' is not a finite number"),
        ("1,2,0\n1,nan,1\n", "not a finite number"),
        ("1,2,0.5\n", "not an integer class label"),
        ("1\n2\n", "at least one feature"),
    ],
)
def test_load_csv_rejects_bad_files_with_the_place(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as info:
        data.load_csv(path)
    assert str(path) in str(info.value)


def test_load_csv_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        data.load_csv(tmp_path / "nope.csv")


def test_load_csv_accepts_a_utf8_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfx0,x1,label\r\n0.5,-1,1\r\n2,3,0\r\n")
    assert data.load_csv(path) == ([[0.5, -1.0], [2.0, 3.0]], [1, 0])
    path.write_bytes(b"\xef\xbb\xbf0.5,-1,1\n")  # no header: the first field is still a number
    assert data.load_csv(path) == ([[0.5, -1.0]], [1])


@pytest.mark.parametrize("field", ["1_0", "1__0", "_1", "\u0661\u0662", "0x10", "1e5_0", "١"])
def test_load_csv_takes_only_plain_decimal_numbers(tmp_path: Path, field: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f"0.5,1\n{field},0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 2, column 1: .* is not a finite number"):
        data.load_csv(path)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_parse_number_reads_back_every_float_as_python_prints_it(x: float) -> None:
    assert data.parse_number(repr(x)) == x
    assert data.parse_number(f" {x:e} ") == float(f"{x:e}")


@given(st.text(alphabet="0123456789._eE+-", min_size=1).filter(lambda t: "_" in t))
def test_parse_number_refuses_every_underscore(text: str) -> None:
    assert data.parse_number(text) is None


@given(
    st.lists(st.sampled_from(["setosa", "versicolor", "virginica", "B", "a b"]), min_size=1),
    st.booleans(),
)
def test_class_names_are_numbered_in_sorted_order(names: list[str], with_header: bool) -> None:
    import tempfile

    text = ("f0,f1,species\n" if with_header else "") + "".join(
        f"{i},-{i}.5,{name}\n" for i, name in enumerate(names)
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "named.csv"
        path.write_text(text)
        found = data.read_csv(path)
        rows, labels = data.load_csv(path)
    expected_classes = sorted(set(names))
    assert found.classes == expected_classes
    assert [found.classes[k] for k in found.y] == names
    assert (rows, labels) == (found.X, found.y)
    assert rows == [[float(i), -float(i) - 0.5] for i in range(len(names))]
    assert found.header == (["f0", "f1", "species"] if with_header else None)


def test_integer_labels_have_no_class_names(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,7\n3,4,-1\n")
    found = data.read_csv(path)
    assert found.classes is None
    assert found.y == [7, -1]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1,2,cat\n3,4,0\n", r"line 1 labels its row with the name 'cat' but line 2 with the"),
        ("1,2,0\n3,4,1_0\n", r"name '1_0' but line 1 with the number '0'"),
        ("1,2,cat\n3,4, \n", r"line 2: the label is empty"),
    ],
)
def test_mixed_or_empty_labels_are_refused(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        data.load_csv(path)


def test_the_shipped_example_csv_has_two_named_classes() -> None:
    path = Path(__file__).resolve().parents[1] / "examples" / "points.csv"
    found = data.read_csv(path)
    assert found.header is not None and len(found.header) == 3
    assert found.classes is not None and len(found.classes) == 2
    assert 40 <= len(found.X) <= 200
    assert all(len(row) == 2 for row in found.X)
    assert sorted(Counter(found.y)) == [0, 1]


def test_numpy_numbers_are_accepted_by_the_data_helpers() -> None:
    np = pytest.importorskip("numpy")
    for name, make in GENERATORS:
        X, y = make(n_samples=np.int64(21), seed=np.int64(5), noise=np.float64(0.2))
        assert (X, y) == make(n_samples=21, seed=5, noise=0.2), name
    assert data.make_spirals(30, n_classes=np.int64(3))[1] == data.make_spirals(30, n_classes=3)[1]
    assert data.make_blobs(12, centers=np.int64(4)) == data.make_blobs(12, centers=4)
    centers = np.array([[1.0, 2.0], [-3.0, 0.5]])
    assert data.make_blobs(8, noise=0.0, centers=centers) == data.make_blobs(
        8, noise=0.0, centers=[[1.0, 2.0], [-3.0, 0.5]]
    )
    X, y = data.make_moons(10, seed=1)
    import random

    got = list(data.batches(np.array(X), np.array(y), np.int64(4), rng=random.Random(0)))
    want = list(data.batches(X, y, 4, rng=random.Random(0)))
    assert got == want
    assert all(type(v) is float for xb, _ in got for row in xb for v in row)
    assert all(type(label) is int for _, yb in got for label in yb)
    split = data.train_test_split(np.array(X), np.array(y), 0.3, seed=np.int64(2))
    assert split == data.train_test_split(X, y, 0.3, seed=2)
    assert all(type(label) is int for label in split[1] + split[3])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: data.make_moons(n_samples=10.0), "n_samples must be an integer"),
        (lambda: data.make_moons(n_samples=True), "n_samples must be an integer"),
        (lambda: data.make_blobs(centers=True), "centers must be an integer"),
        (lambda: data.make_moons(noise="0.1"), "noise must be a finite number"),
        (lambda: data.make_moons(seed=[1]), "seed must be an integer"),
        (lambda: list(data.batches([[1.0]], [0], 1.5)), "batch_size must be a positive"),
    ],
)
def test_non_integer_counts_are_refused(call: Callable[[], object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        call()
