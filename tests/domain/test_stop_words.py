"""STOP keywords (domain/stop_words.py): the whole text is a keyword, however it is written."""

from __future__ import annotations

import pytest

from textos.config import Settings, load_settings
from textos.domain.stop_words import DEFAULT_STOP_WORDS, StopWords, normalise

WORDS = StopWords()


@pytest.mark.parametrize("text", [
    "STOP", "stop", "Stop", " STOP ", "STOP.", "Stop !", "«STOP»", "stop\n", "STOP SMS", "stop  sms", "Stop sms",
    "ARRET", "Arrêt", "ARRÊT", "arrêt !", "Désabonner", "DESABONNER", "désinscrire", "UNSUBSCRIBE", "unsubscribe.", "STOPALL",
    "Opt-Out",
])  # fmt: skip
def test_a_keyword_is_a_stop_whatever_its_case_accents_blanks_and_punctuation_around(text):
    assert WORDS.is_stop(text)


@pytest.mark.parametrize("text", [
    "", "   ", "!!", "stop calling me", "je n'arrête pas", "STOP 36111 please", "Merci", "STOPPER", "arrêter de m'écrire",
    "CANCEL", "END", "QUIT",  # US carrier words: a reply CANCEL to an appointment reminder is an answer
])  # fmt: skip
def test_a_sentence_that_merely_contains_a_keyword_is_not_a_stop(text):
    assert not WORDS.is_stop(text)


def test_normalise_removes_accents_case_and_outer_punctuation_and_squeezes_blanks():
    assert normalise("  Désabonner ! ") == "DESABONNER"
    assert normalise("stop \t sms") == "STOP SMS"
    assert normalise("Opt-Out.") == "OPT-OUT"


def test_the_list_is_a_setting_compared_the_same_way(monkeypatch):
    assert Settings().stop_words == list(DEFAULT_STOP_WORDS)
    monkeypatch.setenv("TEXTOS_STOP_WORDS", "basta, Fin de l'abonnement")
    words = StopWords(load_settings().stop_words)
    assert words.is_stop("BASTA") and words.is_stop("fin de l’abonnement".replace("’", "'"))
    assert not words.is_stop("STOP")  # the list replaces the defaults


def test_the_stop_number_comes_from_the_clause_unless_set():
    assert Settings().stop_clause_number() == "36111"
    assert Settings(stop_clause="\nSTOP au 36180").stop_clause_number() == "36180"
    assert Settings(stop_clause="", stop_number=None).stop_clause_number() is None
    assert Settings(stop_number=" 36200 ").stop_clause_number() == "36200"
