"""Mail merge ("publipostage"): ``#column#`` placeholders in a message.

Placeholder rule: text between two ``#`` is a placeholder when, trimmed and
case-folded, it names a receivers column (so ``# Prenom #`` matches column
``prenom``), or when it looks like an identifier: a letter or ``_`` followed
by letters, digits, ``_`` or ``-``, without spaces. Anything else keeps its
``#`` literal and scanning resumes at the second ``#``: a lone ``#``, ``##``,
``# `` or ``#1 and #2`` stay text, and so do codes such as ``#123#`` (leading
digit) unless the file has a column named ``123``.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Iterable, Literal, Mapping, Sequence

__all__ = ["MergeError", "Template", "check_template", "find_placeholders"]

_IDENT = re.compile(r"[^\W\d][\w-]*")


class MergeError(ValueError):
    """A template cannot be merged; ``str()`` is user-facing."""

    def __init__(self, message: str, *, columns: Sequence[str] = (), row: int | None = None):
        super().__init__(message)
        self.columns = list(columns)
        self.row = row


def _key(name: str) -> str:
    return name.strip().casefold()


def _parse(template: str, columns: Iterable[str] | None) -> list[tuple[str, str | None]]:
    """Split into ``(literal, placeholder-or-None)`` pairs; placeholders as written."""
    known = {_key(c) for c in columns} if columns is not None else set()
    pieces: list[tuple[str, str | None]] = []
    literal: list[str] = []
    i = 0
    while True:
        start = template.find("#", i)
        end = template.find("#", start + 1) if start >= 0 else -1
        if end < 0:
            literal.append(template[i:])
            break
        name = template[start + 1 : end]
        if _key(name) in known or _IDENT.fullmatch(name):
            literal.append(template[i:start])
            pieces.append(("".join(literal), name))
            literal = []
            i = end + 1
        else:
            literal.append(template[i : start + 1])
            i = start + 1
    pieces.append(("".join(literal), None))
    return pieces


def find_placeholders(template: str, columns: Iterable[str] | None = None) -> list[str]:
    """Placeholder names (as written, first occurrence order, no duplicates)."""
    seen: dict[str, str] = {}
    for _, name in _parse(template, columns):
        if name is not None:
            seen.setdefault(_key(name), name)
    return list(seen.values())


def check_template(template: str, columns: Sequence[str]) -> None:
    """Raise :class:`MergeError` if ``template`` references a missing column."""
    known = {_key(c) for c in columns}
    missing = [n for n in find_placeholders(template, columns) if _key(n) not in known]
    if missing:
        refs = ", ".join(f"#{n}#" for n in missing)
        names = ", ".join(repr(n.strip()) for n in missing)
        noun = "column" if len(missing) == 1 else "columns"
        raise MergeError(
            f"message references {refs} but the receivers CSV has no {noun} {names}"
            f" (columns: {', '.join(columns)})",
            columns=missing,
        )


class Template:
    """A template compiled once against the CSV columns; ``render`` per row.

    ``empty="error"`` (default) makes an empty value for a referenced column
    a :class:`MergeError`; ``empty="keep"`` renders it as an empty string.
    """

    def __init__(
        self,
        template: str,
        columns: Sequence[str],
        *,
        empty: Literal["error", "keep"] = "error",
    ) -> None:
        if empty not in ("error", "keep"):
            raise ValueError("empty must be 'error' or 'keep'")
        check_template(template, columns)
        by_key = {_key(c): c for c in columns}
        pieces = _parse(template, columns)
        self.text = template
        self.keys = [by_key[_key(n)] for _, n in pieces if n is not None]
        self._strict = empty == "error"
        self._format = "%s".join(lit.replace("%", "%%") for lit, _ in pieces)
        self._static = pieces[0][0] if not self.keys else None
        self._get = itemgetter(*self.keys) if self.keys else None
        self._many = len(self.keys) > 1  # itemgetter returns a tuple, else the value

    @property
    def columns(self) -> list[str]:
        """Referenced columns (CSV spelling, no duplicates)."""
        return list(dict.fromkeys(self.keys))

    def render(self, row: Mapping[str, str], row_number: int | None = None) -> str:
        """Merge one row; ``row_number`` only serves error messages."""
        get = self._get
        if get is None:
            return self._static  # type: ignore[return-value]
        try:
            values = get(row)
        except KeyError as exc:
            raise MergeError(f"{_where(row_number)}no column {exc.args[0]!r}") from None
        if self._strict and ("" in values if self._many else not values):
            return self._empty(values, row_number)
        return self._format % values

    def _empty(self, values: str | tuple[str, ...], row_number: int | None) -> str:
        column = self.keys[values.index("") if self._many else 0]
        raise MergeError(
            f"{_where(row_number)}column {column!r} is empty but the message uses #{column}#",
            columns=[column],
            row=row_number,
        )


def _where(row_number: int | None) -> str:
    return f"receivers CSV row {row_number}: " if row_number is not None else ""
