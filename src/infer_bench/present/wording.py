"""Plain words for numbers, in one place: speed ratios ("3.2x faster"), percentages, sizes.

Every formatter that takes an optional number returns "" for anything that is
not a number (None, a missing key's value, a bool), so a table cell is left
empty rather than filled with a made-up figure.
"""

from __future__ import annotations

import math

import numpy as np

SAME_SPEED_RATIO = 1.05  # within 5% either way we say "same"
SI_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def is_number(x) -> bool:
    """True for an int or float that is not a bool (JSON numbers; ``True`` is not a figure)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def format_speedup(reference_ms: float, ms: float) -> str:
    """Say how ``ms`` compares with ``reference_ms``: "3.2x faster", "1.5x slower" or "same".

    Lower is better (these are times). Within ``SAME_SPEED_RATIO`` either way
    counts as "same", so timing noise is not reported as a speed-up.
    """
    for name, v in (("reference_ms", reference_ms), ("ms", ms)):
        if not (isinstance(v, (int, float, np.floating)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name}={v!r} must be a finite time > 0")
    ratio = reference_ms / ms
    factor = max(ratio, 1 / ratio)
    if factor < SAME_SPEED_RATIO:
        return "same"
    # Two decimals near 1 so a real 6% difference does not print as "1.1x"/"1.0x" arbitrarily.
    text = f"{factor:.2f}" if factor < 1.1 else f"{factor:.1f}"
    return f"{text}x {'faster' if ratio > 1 else 'slower'}"


def compare_speed(reference: float, value: float, higher_is_better: bool = False) -> str:
    """``format_speedup`` for times (lower is better) or rates such as rows/s (``higher_is_better``).

    A rate is compared as its time per row, so "faster" reads the same in every table.
    """
    if higher_is_better:
        reference, value = 1 / reference, 1 / value
    return format_speedup(reference, value)


def percent(x) -> str:
    """0.9136 -> "91.36%"; "" when ``x`` is not a number."""
    return f"{x:.2%}" if is_number(x) else ""


def number(x, fmt: str = "{:,.3g}") -> str:
    """``x`` in ``fmt`` (three significant digits by default); "" when ``x`` is not a number."""
    return fmt.format(x) if is_number(x) else ""


def ratio(x) -> str:
    """195.7 -> "196x"; "" when ``x`` is not a number."""
    return f"{x:.3g}x" if is_number(x) else ""


def si(x, unit: str) -> str:
    """1.23e9 -> "1.23 G" + unit; "" when ``x`` is not a number."""
    if not is_number(x):
        return ""
    for scale, prefix in SI_PREFIXES:
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def short_number(x: float) -> str:
    """Three significant digits, without scientific notation for times and rates: 0.025, 12.5, 350, 83,333."""
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 1:
        return f"{x:.3g}" if x < 100 else f"{x:.0f}"
    return f"{x:.3g}"


def megabytes(n: float) -> str:
    """233544 -> "0.23 MB" (decimal megabytes, as file sizes are shown everywhere in the suite)."""
    return f"{n / 1e6:.2f} MB"
