"""Numbers into the explanation's words: ratios ("3.2x"), times ("0.050 ms"), shares ("45%")."""

from __future__ import annotations


def times(ratio: float) -> str:
    """A ratio as "3.2x" (two decimals near 1, so 1.02x does not print as 1.0x; none from 100x up)."""
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.2f}x" if ratio < 1.1 else f"{ratio:.1f}x"


def ms(value: float | None) -> str:
    """A time in ms with three significant digits or so ("n/a" for None)."""
    if value is None:
        return "n/a"
    if value >= 10:
        return f"{value:.1f} ms"
    if value >= 1:
        return f"{value:.2f} ms"
    return f"{value:.3f} ms"


def pct(share: float | None) -> str:
    """A share 0..1 as a percentage: one decimal below 10% ("n/a" for None)."""
    if share is None:
        return "n/a"
    return f"{100 * share:.1f}%" if share < 0.1 else f"{100 * share:.0f}%"


def slower(ratio: float) -> str:
    """How many times slower (ratio > 1) or faster (ratio < 1) ``b`` is than ``a`` for ratio = b / a."""
    if ratio >= 1:
        return f"{times(ratio)} slower"
    return f"{times(1 / ratio)} faster"
