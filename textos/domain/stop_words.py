"""STOP keywords: whether an incoming text asks to stop receiving commercial messages.

A text is a STOP when, once normalised, it *is* one of the keywords (``STOP``, ``STOP SMS``,
``ARRET``, ``DESABONNER``…): case, accents, surrounding blanks and punctuation, and repeated
blanks inside do not matter (``" Arrêt ! "``, ``"stop  sms."``, ``"Désabonner"`` are STOPs).
A longer sentence that merely contains the word (``"stop calling me at 8"``, ``"je n'arrête
pas"``) is not: a handset that means STOP answers the keyword the clause shows, and a false
positive would silently blacklist a customer's correspondent. The list is a setting
(``stop_words``); this module only compares.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

__all__ = ["DEFAULT_STOP_WORDS", "StopWords", "normalise"]

DEFAULT_STOP_WORDS: tuple[str, ...] = (
    "STOP", "STOP SMS", "STOPSMS", "STOP ALL", "STOPALL", "ARRET", "ARRET SMS", "ARRETER", "UNSUBSCRIBE",
    "DESABONNER", "DESINSCRIRE", "DESINSCRIPTION", "OPTOUT", "OPT OUT", "OPT-OUT",
)  # fmt: skip
"""Textos's default keywords (accents need not be written: ``ARRÊT`` is ``ARRET``). Not the US
carriers' ``END``/``QUIT``/``CANCEL``: a reply ``CANCEL`` to an appointment reminder is an answer."""

_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_BLANKS = re.compile(r"[\s_]+")


def normalise(text: str) -> str:
    """Upper case, accents removed (NFKD without combining marks), punctuation and blanks at the
    ends removed, inner runs of blanks as one space; hyphens inside are kept (``OPT-OUT``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _BLANKS.sub(" ", _EDGES.sub("", plain.upper())).strip()


class StopWords:
    """A set of keywords, compared after :func:`normalise` (build once, ask often)."""

    __slots__ = ("_words",)

    def __init__(self, words: Iterable[str] = DEFAULT_STOP_WORDS) -> None:
        self._words = frozenset(n for n in (normalise(w) for w in words) if n)

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and normalise(text) in self._words

    def is_stop(self, text: str) -> bool:
        """True when ``text`` is one of the keywords (see the module's rule)."""
        return text in self

    @property
    def words(self) -> frozenset[str]:
        return self._words
