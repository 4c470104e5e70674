"""Country codes (``sms.CountryEnum``) and their names (``rates/destinations``).

Names come from libphonenumber's locale table alone.

``phonenumbers.geocoder`` would give them too, but importing it loads the geocoding
data of every number prefix in the world: about 110 MB held by the server for good,
for a handful of names. The locale table it reads them from is small; it is loaded on
its own, once, on first use.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import phonenumbers

from textos.domain.errors import BadRequest


@functools.cache
def _locale_data() -> dict[str, dict[str, str]]:
    path = Path(phonenumbers.__file__).parent / "geodata" / "locale.py"
    spec = importlib.util.spec_from_file_location("phonenumbers.geodata.locale", path)
    if spec is None or spec.loader is None:  # pragma: no cover - a phonenumbers without the table
        return {}
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.LOCALE_DATA)


def country_name(code: str, lang: str = "en") -> str:
    """``"fr"`` → ``"France"``; the upper-cased code itself when no name is known."""
    region = code.upper()
    names = _locale_data().get(region, {})
    name = names.get(lang, "")
    if name.startswith("*"):  # "*xx": the name is the one given for language xx
        name = names.get(name[1:], "")
    return name or region


def check_country(country: str, *, allow_all: bool = False) -> str:
    """``sms.CountryEnum``: a known 2-letter country code (lowercase), or ``all`` where allowed."""
    code = country.strip().lower()
    if allow_all and code == "all":
        return code
    if len(code) != 2 or not code.isalpha() or phonenumbers.country_code_for_region(code.upper()) == 0:
        raise BadRequest(f"country: {country!r} is not a known country code")
    return code
