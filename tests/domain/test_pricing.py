"""One credit-rate rule: textos.toml's keys in any case; a job costs parts × rate, in milli-credits."""

from __future__ import annotations

from pathlib import Path

from textos.config import load_settings
from textos.domain.pricing import CreditRates, to_milli


def test_rates_read_country_keys_in_any_case() -> None:
    rates = CreditRates.of({"gb": 2.5, " Ie ": "2"}, 1)
    assert rates.per_part("GB") == rates.per_part("gb") == 2.5
    assert rates.per_part("IE") == 2.0
    assert rates.per_part("FR") == 1.0
    assert rates.per_part("all") == 1.0


def test_cost_is_parts_times_rate_in_milli_credits() -> None:
    rates = CreditRates.of({"GB": 1.5})
    assert rates.cost_milli(3, "GB") == to_milli(4.5) == 4500
    assert rates.cost_milli(2, "FR") == 2000


def test_lowercase_toml_keys_are_the_settings_rule(tmp_path: Path) -> None:
    config = tmp_path / "textos.toml"
    config.write_text("credit_rates = { gb = 2.5 }\n")
    settings = load_settings(config)
    assert settings.credit_rate("GB") == settings.rates.per_part("gb") == 2.5
    assert settings.credit_rates == {"GB": 2.5}
