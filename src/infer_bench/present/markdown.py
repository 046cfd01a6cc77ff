"""Markdown building blocks for the report: tables, image links, "missing input" lines."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate


def cell(value) -> str:
    """One table cell: None is empty; newlines become spaces and ``|`` is escaped so the row stays one row."""
    text = "" if value is None else str(value)
    return text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def md_table(rows, headers) -> str:
    """A GitHub Markdown table; ``|`` and newlines inside cells are escaped."""
    return tabulate([[cell(v) for v in row] for row in rows], headers=[cell(h) for h in headers],
                    tablefmt="github", disable_numparse=True)


def image(path: Path, base: Path, alt: str) -> str:
    """An image link to ``path``, relative to the folder ``base`` the Markdown file is in."""
    return f"![{alt}]({path.relative_to(base).as_posix()})"


def missing(text: str) -> str:
    """An italic line saying what is missing and which command makes it."""
    return f"_{text}_"
