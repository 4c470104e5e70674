"""Mail merge templates (#column# placeholders)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textos.receivers.merge import MergeError, Template, check_template, find_placeholders

COLUMNS = ["Numero", "nom", "prenom", "adresse"]
COOKBOOK = (
    "Bonjour #prenom# #nom#, votre commande va être livrée à l’adresse : #adresse# . Cordialement."
)
ROW = {"Numero": "0662000000", "nom": "Durant", "prenom": "Pierre", "adresse": "xx rue montaigne Paris"}


def test_cookbook_example() -> None:
    assert find_placeholders(COOKBOOK) == ["prenom", "nom", "adresse"]
    assert Template(COOKBOOK, COLUMNS).render(ROW) == (
        "Bonjour Pierre Durant, votre commande va être livrée à l’adresse :"
        " xx rue montaigne Paris . Cordialement."
    )


def test_missing_column_message() -> None:
    with pytest.raises(MergeError) as exc:
        check_template("Bonjour #prenom#, à #ville#", COLUMNS)
    assert str(exc.value) == (
        "message references #ville# but the receivers CSV has no column 'ville'"
        " (columns: Numero, nom, prenom, adresse)"
    )
    assert exc.value.columns == ["ville"]
    with pytest.raises(MergeError, match="#ville#, #cp# but .* no columns 'ville', 'cp'"):
        Template("#ville# #cp# #nom#", COLUMNS)


def test_names_are_case_insensitive_and_trimmed() -> None:
    t = Template("#PRENOM# # Nom #!", [" Prenom", "nom"])
    assert t.keys == [" Prenom", "nom"]
    assert t.render({" Prenom": "Jean", "nom": "Dupont"}) == "Jean Dupont!"


@pytest.mark.parametrize(
    "text",
    [
        "Tapez # pour annuler",
        "Code #1 et #2 valables",
        "Solde: composez #123# gratuit",
        "## promo ##",
        "# nom",
        "prix 5# ou #",
        "100% #hashtag promo",
        "{prenom} %s %(x)s",
    ],
)
def test_literal_hashes_stay(text: str) -> None:
    assert find_placeholders(text, COLUMNS) == []
    t = Template(text, COLUMNS)
    assert t.render(ROW) == text


def test_placeholder_rule_edges() -> None:
    assert find_placeholders("#1 #nom#") == ["nom"]  # first '#' literal, rescans at 2nd
    assert Template("#1 #nom#", COLUMNS).render(ROW) == "#1 Durant"
    assert find_placeholders("#123#", ["123"]) == ["123"]  # known column wins
    assert find_placeholders("#a b#", ["a b"]) == ["a b"]
    assert find_placeholders("#a b#") == []
    assert find_placeholders("#code_promo# #x-y# #É1#") == ["code_promo", "x-y", "É1"]
    assert find_placeholders("#nom##nom#") == ["nom"]
    assert Template("#nom##nom#", COLUMNS).render(ROW) == "DurantDurant"
    assert Template("##nom#", COLUMNS).render(ROW) == "#Durant"


def test_values_are_not_rescanned_or_formatted() -> None:
    row = {**ROW, "nom": "#prenom# %s {0}"}
    assert Template("[#nom#] 100%", COLUMNS).render(row) == "[#prenom# %s {0}] 100%"


def test_empty_values() -> None:
    row = {**ROW, "prenom": ""}
    with pytest.raises(MergeError, match="row 7: column 'prenom' is empty") as exc:
        Template(COOKBOOK, COLUMNS).render(row, 7)
    assert exc.value.row == 7 and exc.value.columns == ["prenom"]
    with pytest.raises(MergeError, match="column 'prenom' is empty"):
        Template("#PRENOM#", COLUMNS).render(row)
    assert Template("Bonjour #prenom#.", COLUMNS, empty="keep").render(row) == "Bonjour ."
    assert Template("no placeholder", COLUMNS).render(row) == "no placeholder"
    with pytest.raises(ValueError):
        Template("x", COLUMNS, empty="drop")  # type: ignore[arg-type]


def test_row_without_column() -> None:
    with pytest.raises(MergeError, match="row 3: no column 'nom'"):
        Template("#nom#", COLUMNS).render({"Numero": "1"}, 3)


_NAMES = st.lists(st.from_regex(r"[a-z_][a-z0-9_-]{0,8}", fullmatch=True), min_size=1, max_size=5, unique=True)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="#"), max_size=10)


@settings(derandomize=True, max_examples=100, deadline=None)
@given(columns=_NAMES, data=st.data())
def test_render_equals_naive_replacement(columns: list[str], data: st.DataObject) -> None:
    refs = data.draw(st.lists(st.sampled_from(columns), max_size=6))
    literals = data.draw(st.lists(_TEXT, min_size=len(refs) + 1, max_size=len(refs) + 1))
    text = literals[0] + "".join(f"#{r}#{lit}" for r, lit in zip(refs, literals[1:]))
    row = {c: data.draw(_TEXT) or "x" for c in columns}
    expected = text
    for c in columns:
        expected = expected.replace(f"#{c}#", row[c])
    assert Template(text, columns).render(row) == expected
    assert find_placeholders(text) == list(dict.fromkeys(refs))
