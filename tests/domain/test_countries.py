"""Country codes as OVH takes them, and their names without the geocoder (the same names,
without its 110 MB of data)."""

from __future__ import annotations

import subprocess
import sys

import phonenumbers
import pytest
from phonenumbers import geocoder

from textos.domain.countries import check_country, country_name
from textos.domain.errors import BadRequest


def test_country_codes_are_known_regions_in_lowercase():
    assert check_country(" FR ") == "fr" and check_country("gb") == "gb"
    assert check_country("ALL", allow_all=True) == "all"
    for bad in ("all", "zz", "fra", "f1", ""):
        with pytest.raises(BadRequest, match="^country: "):
            check_country(bad)


def test_names_are_the_geocoders():
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    assert len(regions) > 200
    for region in regions:
        number = phonenumbers.example_number(region)
        if number is None or len(phonenumbers.region_codes_for_country_code(number.country_code)) != 1:
            continue  # shared calling codes: the geocoder answers by number, not by region
        assert country_name(region.lower()) == (geocoder.country_name_for_number(number, "en") or region), region
    assert country_name("fr") == "France" and country_name("zz") == "ZZ"


def test_the_server_does_not_load_the_geocoding_data():
    code = "import sys, textos.server; from textos.domain.countries import country_name; country_name('fr'); print('phonenumbers.geodata' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
