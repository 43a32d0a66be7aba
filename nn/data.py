"""Toy data sets (moons, circles, spirals, xor, blobs), CSV loading and batching."""

from __future__ import annotations

import csv
import math
import operator
import os
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, SupportsIndex, cast

__all__ = [
    "DATASETS",
    "CSVData",
    "DataError",
    "batches",
    "load_csv",
    "make_blobs",
    "make_circles",
    "make_moons",
    "make_spirals",
    "make_xor",
    "parse_number",
    "read_csv",
    "train_test_split",
]

Points = list[list[float]]
Labels = list[int]


class DataError(ValueError):
    """A data file or a data set argument that cannot be used, with the reason."""


def _linspace(start: float, stop: float, num: int, endpoint: bool = True) -> list[float]:
    """Like numpy.linspace: `num` evenly spaced numbers from start to stop."""
    if num == 1:
        return [start]
    div = num - 1 if endpoint else num
    step = (stop - start) / div
    return [start + i * step for i in range(num)]


def _count(name: str, value: object, minimum: int = 1) -> int:
    """An integer argument (int, numpy integer: anything with ``__index__``, not bool)."""
    try:
        if isinstance(value, bool) or not isinstance(value, SupportsIndex):
            raise TypeError(name)
        n = operator.index(value)  # an array has __index__ but refuses it
    except TypeError:
        raise DataError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if n < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}, got {n}")
    return n


def _rng(seed: object) -> random.Random:
    """``random.Random(seed)``, also for numpy integer seeds (which ``random`` refuses)."""
    if not isinstance(seed, int) and isinstance(seed, SupportsIndex):
        seed = operator.index(seed)
    if not isinstance(seed, int | float | str | bytes | bytearray | None):
        raise DataError(f"seed must be an integer, got {seed!r}")
    try:
        return random.Random(seed)
    except TypeError:
        raise DataError(f"seed must be an integer, got {seed!r}") from None


def _check_common(n_samples: object, noise: object) -> tuple[int, float]:
    n = _count("n_samples", n_samples)
    try:
        if isinstance(noise, bool | str | bytes):
            raise TypeError("noise")
        std = float(noise)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        std = math.nan
    if not (std >= 0 and math.isfinite(std)):
        raise DataError(f"noise must be a finite number >= 0, got {noise!r}")
    return n, std


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds; anything else unchanged."""
    return value.item() if type(value).__module__ == "numpy" else value


def _shuffle_and_jitter(
    points: Points, labels: Labels, noise: float, rng: random.Random
) -> tuple[Points, Labels]:
    """Shuffle examples, then add gaussian noise of std `noise` to every coordinate."""
    order = list(range(len(points)))
    rng.shuffle(order)
    X = [list(points[i]) for i in order]
    y = [labels[i] for i in order]
    if noise > 0:
        X = [[v + rng.gauss(0.0, noise) for v in row] for row in X]
    return X, y


def make_moons(n_samples: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[Points, Labels]:
    """Two interleaving half circles, defined as scikit-learn's ``make_moons``.

    Class 0 lies on the upper half of the unit circle, ``(cos t, sin t)``; class 1 on
    the lower half circle ``(1 - cos t, 0.5 - sin t)``, with ``t`` evenly spaced in
    ``[0, pi]``. Class 0 gets ``n_samples // 2`` points. The examples are shuffled,
    then gaussian noise of standard deviation ``noise`` is added to each coordinate.

    Args:
        n_samples: Total number of points.
        noise: Standard deviation of the gaussian noise (0 for exact half circles).
        seed: Seed of the ``random.Random`` stream; the same seed gives the same data.

    Returns:
        ``(X, y)``: X a list of ``[x0, x1]`` lists, y a list of 0/1 labels.
    """
    n_samples, noise = _check_common(n_samples, noise)
    rng = _rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer = [[math.cos(t), math.sin(t)] for t in _linspace(0.0, math.pi, n_out)]
    inner = [[1.0 - math.cos(t), 0.5 - math.sin(t)] for t in _linspace(0.0, math.pi, n_in)]
    return _shuffle_and_jitter(outer + inner, [0] * n_out + [1] * n_in, noise, rng)


def make_circles(
    n_samples: int = 100, noise: float = 0.05, seed: int = 0, factor: float = 0.5
) -> tuple[Points, Labels]:
    """A large circle (class 0) around a smaller one (class 1), as scikit-learn defines it.

    Class 0 gets ``n_samples // 2`` points evenly spaced on the unit circle, class 1
    the rest on the circle of radius ``factor``. The examples are shuffled, then
    gaussian noise of standard deviation ``noise`` is added to each coordinate.

    Args:
        n_samples: Total number of points.
        noise: Standard deviation of the gaussian noise.
        seed: Seed of the ``random.Random`` stream.
        factor: Radius of the inner circle, in ``(0, 1)``.

    Returns:
        ``(X, y)``: X a list of ``[x0, x1]`` lists, y a list of 0/1 labels.
    """
    n_samples, noise = _check_common(n_samples, noise)
    if not 0 < factor < 1:
        raise DataError(f"factor must be between 0 and 1 (exclusive), got {factor!r}")
    rng = _rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer = [[math.cos(t), math.sin(t)] for t in _linspace(0.0, 2 * math.pi, n_out, False)]
    inner = [
        [factor * math.cos(t), factor * math.sin(t)]
        for t in _linspace(0.0, 2 * math.pi, n_in, False)
    ]
    return _shuffle_and_jitter(outer + inner, [0] * n_out + [1] * n_in, noise, rng)


def make_spirals(
    n_samples: int = 100, noise: float = 0.05, seed: int = 0, n_classes: int = 2
) -> tuple[Points, Labels]:
    """Interleaved spiral arms, one per class (the CS231n spiral data set).

    Arm ``k`` has points at radius ``r`` evenly spaced in ``[0, 1]`` and angle
    ``2*pi*k/n_classes + 1.5*2*pi*r`` (one and a half turns). Classes get equal
    shares of the points (the first ones one more when it does not divide). The
    examples are shuffled, then gaussian noise of standard deviation ``noise`` is
    added to each coordinate.

    Args:
        n_samples: Total number of points.
        noise: Standard deviation of the gaussian noise.
        seed: Seed of the ``random.Random`` stream.
        n_classes: Number of arms (classes), at least 2.

    Returns:
        ``(X, y)``: X a list of ``[x0, x1]`` lists, y labels in ``range(n_classes)``.
    """
    n_samples, noise = _check_common(n_samples, noise)
    n_classes = _count("n_classes", n_classes, minimum=2)
    rng = _rng(seed)
    points: Points = []
    labels: Labels = []
    for k in range(n_classes):
        count = n_samples // n_classes + (1 if k < n_samples % n_classes else 0)
        for r in _linspace(0.0, 1.0, count) if count else []:
            angle = 2 * math.pi * k / n_classes + 1.5 * 2 * math.pi * r
            points.append([r * math.cos(angle), r * math.sin(angle)])
            labels.append(k)
    return _shuffle_and_jitter(points, labels, noise, rng)


def make_xor(n_samples: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[Points, Labels]:
    """The XOR problem: points uniform in the square [-1, 1]^2, class 1 where x0*x1 < 0.

    The label comes from the quadrant of the clean point (class 1 in the second
    and fourth quadrants, where exactly one coordinate is negative); gaussian
    noise of standard deviation ``noise`` is then added to each coordinate.

    Args:
        n_samples: Total number of points.
        noise: Standard deviation of the gaussian noise.
        seed: Seed of the ``random.Random`` stream.

    Returns:
        ``(X, y)``: X a list of ``[x0, x1]`` lists, y a list of 0/1 labels.
    """
    n_samples, noise = _check_common(n_samples, noise)
    rng = _rng(seed)
    points = [[rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)] for _ in range(n_samples)]
    labels = [int((x0 < 0) != (x1 < 0)) for x0, x1 in points]
    return _shuffle_and_jitter(points, labels, noise, rng)


def make_blobs(
    n_samples: int = 100,
    noise: float = 1.0,
    seed: int = 0,
    centers: int | Sequence[Sequence[float]] = 2,
    center_box: tuple[float, float] = (-10.0, 10.0),
) -> tuple[Points, Labels]:
    """Isotropic gaussian blobs, as scikit-learn's ``make_blobs`` defines them.

    With an integer ``centers``, the centers are drawn uniformly in ``center_box``
    on each axis. Blob ``k`` gets ``n_samples // n_centers`` points (the first
    ``n_samples % n_centers`` blobs one more), each its center plus gaussian noise
    of standard deviation ``noise`` (scikit-learn's ``cluster_std``); the examples
    are then shuffled.

    Args:
        n_samples: Total number of points.
        noise: Standard deviation of each blob.
        seed: Seed of the ``random.Random`` stream.
        centers: Number of blobs, or their coordinates (a list of ``[c0, c1]``).
        center_box: Bounds of the random centers.

    Returns:
        ``(X, y)``: X a list of points, y the index of each point's blob.
    """
    n_samples, noise = _check_common(n_samples, noise)
    rng = _rng(seed)
    if isinstance(centers, SupportsIndex) and not hasattr(centers, "__len__"):  # a count
        centers = _count("centers", centers)
        lo, hi = (float(v) for v in center_box)
        where = [[rng.uniform(lo, hi), rng.uniform(lo, hi)] for _ in range(centers)]
    else:
        points_given = cast(Sequence[Sequence[float]], centers)  # not a count: coordinates
        where = [[float(c) for c in center] for center in points_given]
        if not where or len({len(c) for c in where}) != 1:
            raise DataError("centers must be a non-empty list of points of equal dimension")
    points: Points = []
    labels: Labels = []
    for k, center in enumerate(where):
        count = n_samples // len(where) + (1 if k < n_samples % len(where) else 0)
        for _ in range(count):
            points.append([c + rng.gauss(0.0, noise) for c in center])
            labels.append(k)
    return _shuffle_and_jitter(points, labels, 0.0, rng)


DATASETS = {
    "moons": make_moons,
    "circles": make_circles,
    "spirals": make_spirals,
    "xor": make_xor,
    "blobs": make_blobs,
}
"""The built-in generators by name (the CLI's ``--dataset`` choices)."""


def batches(
    X: Sequence[Sequence[float]],
    y: Sequence[int],
    batch_size: int | None = None,
    *,
    shuffle: bool = True,
    rng: random.Random | None = None,
) -> Iterator[tuple[Points, Labels]]:
    """Yield one epoch of ``(X_batch, y_batch)`` pairs.

    Args:
        X: Examples.
        y: Labels, one per example.
        batch_size: Examples per batch (the last batch may be smaller); ``None``
            yields the whole data set as one batch.
        shuffle: Visit the examples in a random order.
        rng: Random stream for the order (default: a fresh ``random.Random(0)``).

    Yields:
        Batches that together hold every example exactly once.
    """
    if len(X) != len(y):
        raise DataError(f"X has {len(X)} examples but y has {len(y)} labels")
    if batch_size is not None:
        try:
            batch_size = _count("batch_size", batch_size)
        except DataError:
            raise DataError(
                f"batch_size must be a positive integer or None, got {batch_size!r}"
            ) from None
    order = list(range(len(X)))
    if shuffle:
        (rng if rng is not None else random.Random(0)).shuffle(order)
    size = len(order) if batch_size is None else batch_size
    for start in range(0, len(order), max(size, 1)):
        chosen = order[start : start + size]
        yield [_row(X[i]) for i in chosen], [_plain(y[i]) for i in chosen]


def _row(x: Sequence[float]) -> list[float]:
    """One example as a fresh list (numpy numbers become Python floats)."""
    return [_plain(v) for v in x]


def train_test_split(
    X: Sequence[Sequence[float]],
    y: Sequence[int],
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[Points, Labels, Points, Labels]:
    """Shuffle and split into ``(X_train, y_train, X_test, y_test)``.

    Args:
        X: Examples.
        y: Labels, one per example.
        test_fraction: Share of the examples held out, in ``[0, 1)``.
        seed: Seed of the shuffle.

    Returns:
        The training and test examples and labels.
    """
    if len(X) != len(y):
        raise DataError(f"X has {len(X)} examples but y has {len(y)} labels")
    if not 0 <= test_fraction < 1:
        raise DataError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    order = list(range(len(X)))
    _rng(seed).shuffle(order)
    n_test = round(len(order) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (
        [_row(X[i]) for i in train],
        [_plain(y[i]) for i in train],
        [_row(X[i]) for i in test],
        [_plain(y[i]) for i in test],
    )


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""A plain decimal number: digits 0-9, an optional point and exponent (no ``1_0``, no ``inf``)."""


def parse_number(text: str) -> float | None:
    """The finite number a CSV field or command-line value spells, or None.

    Only plain decimal notation is a number: ``-1``, ``0.5``, ``.5``, ``2e-3``,
    with spaces around it allowed. Python's ``float()`` also accepts ``1_0``
    (as 10), non-ASCII digits, ``inf`` and ``nan``; none of those is taken here.

    Args:
        text: The field.

    Returns:
        The number, or None when the text is not a plain decimal number or is too
        large for a float (``1e999``).
    """
    stripped = text.strip()
    if not _DECIMAL.fullmatch(stripped):
        return None
    value = float(stripped)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class CSVData:
    """What :func:`read_csv` found in a file.

    Attributes:
        X: The feature rows.
        y: The class labels: the file's integers, or for class names their
            index in ``classes``.
        classes: The class names in sorted order (label ``k`` is
            ``classes[k]``), or None when the file labels classes with integers.
        header: The column names of the header row, or None without one.
    """

    X: Points
    y: Labels
    classes: list[str] | None = None
    header: list[str] | None = None


def load_csv(
    path: str | os.PathLike[str], label_column: int = -1, header: bool | None = None
) -> tuple[Points, Labels]:
    """Read a CSV file of numeric features and one class-label column: ``(X, y)``.

    The format (see :func:`read_csv` for every detail): one example per row,
    comma-separated; the feature columns are plain decimal numbers; the label
    column (the last by default) holds integers, or class names, which become
    ``0..k-1`` in sorted order (``read_csv`` also returns the names). An optional
    header row names the columns. UTF-8, with or without a byte-order mark.

    Args:
        path: The file.
        label_column: Index of the label column (negative counts from the end).
        header: Whether the first row holds column names; ``None`` decides from
            the row itself (a header when none of its fields is a number).

    Returns:
        ``(X, y)``: the feature rows and the labels.

    Raises:
        DataError: As :func:`read_csv`.
    """
    found = read_csv(path, label_column, header)
    return found.X, found.y


def read_csv(
    path: str | os.PathLike[str], label_column: int = -1, header: bool | None = None
) -> CSVData:
    """Read a CSV file of numeric features and one class-label column.

    Format::

        x0,x1,label        <- optional header: a first row with no number in it
        0.5,-1.2,cat
        2e-3,3,dog

    - One example per row, fields separated by commas (quoted fields allowed);
      blank lines are skipped; every row has the same number of fields.
    - Features are plain decimal numbers (``-1``, ``0.5``, ``2e-3``): not
      ``1_0``, ``inf`` or ``nan``.
    - Labels are either all integers (``0``, ``1``, ``-1``, ``7``, ``1.0``) or
      all class names (any other text, compared exactly after stripping
      spaces): the names, sorted, are numbered ``0..k-1`` and returned in
      ``classes``, so ``cat, dog`` become ``0, 1``.
    - The file is UTF-8; a byte-order mark (as spreadsheet programs write) is
      ignored.

    Args:
        path: The file.
        label_column: Index of the label column (negative counts from the end).
        header: Whether the first row holds column names; ``None`` decides from the
            row itself (a header when none of its fields is a number).

    Returns:
        The features, labels, class names (for named labels) and header.

    Raises:
        DataError: The file is missing, empty, ragged (rows of different lengths),
            holds a feature that is not a finite plain decimal number, a label
            that is a fraction, an empty label, or mixes integer labels and
            names; the message names the file, line and field.
    """
    name = os.fspath(path)
    try:
        with open(name, newline="", encoding="utf-8-sig") as f:  # -sig: drop a BOM
            rows = [(i, row) for i, row in enumerate(csv.reader(f), start=1) if row]
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a folder, not a CSV file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"{name}: cannot read CSV: {exc}") from None
    names: list[str] | None = None
    if header is None:
        header = bool(rows) and all(parse_number(v) is None for v in rows[0][1])
    if header and rows:
        names = [v.strip() for v in rows[0][1]]
        rows = rows[1:]
    if not rows:
        raise DataError(f"{name}: no data rows (the file is empty)")
    width = len(rows[0][1])
    if width < 2:
        raise DataError(f"{name}: need at least one feature column and a label column")
    if not -width <= label_column < width:
        raise DataError(f"{name}: label_column {label_column} is out of range for {width} columns")
    label_at = label_column % width
    X: Points = []
    texts: list[tuple[int, str]] = []
    for line, row in rows:
        if len(row) != width:
            raise DataError(
                f"{name}, line {line}: ragged row with {len(row)} fields, expected {width}"
            )
        values: list[float] = []
        for column, text in enumerate(row):
            if column == label_at:
                continue
            value = parse_number(text)
            if value is None:
                raise DataError(
                    f"{name}, line {line}, column {column + 1}: {text!r} is not a finite number"
                    " (features are plain decimal numbers, like -1.5 or 2e-3)"
                )
            values.append(value)
        X.append(values)
        texts.append((line, row[label_at].strip()))
    y, classes = _labels(name, texts)
    return CSVData(X, y, classes, names)


def _labels(name: str, texts: list[tuple[int, str]]) -> tuple[Labels, list[str] | None]:
    """Integer labels as they are, or class names numbered in sorted order."""
    numbers = [(line, text, parse_number(text)) for line, text in texts]
    for line, text in texts:
        if not text:
            raise DataError(f"{name}, line {line}: the label is empty")
    named = [(line, text) for line, text, value in numbers if value is None]
    if not named:
        y: Labels = []
        for line, text, value in numbers:
            if value is None or value != int(value):
                raise DataError(
                    f"{name}, line {line}: label {text!r} is not an integer class label"
                )
            y.append(int(value))
        return y, None
    if len(named) != len(numbers):
        line_n, text_n = next((ln, t) for ln, t, v in numbers if v is not None)
        line_s, text_s = named[0]
        raise DataError(
            f"{name}: line {line_s} labels its row with the name {text_s!r} but line "
            f"{line_n} with the number {text_n!r}; label every row with an integer, "
            "or every row with a class name"
        )
    classes = sorted({text for _, text in texts})
    index = {c: k for k, c in enumerate(classes)}
    return [index[text] for _, text in texts], classes
