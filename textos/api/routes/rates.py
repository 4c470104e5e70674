"""``/sms/estimate``, ``/sms/ptts``, ``/sms/rates/*``: what a message costs and what codes mean."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

import phonenumbers

from textos.api.auth import Caller, authenticate
from textos.api.schemas import Estimate
from textos.api.state import state_of
from textos.domain.countries import country_name
from textos.domain.ptt import PTT
from textos.services import billing
from textos.domain.errors import BadRequest, NotFound
from textos.services.recipients import compose_text, describe_text

router = APIRouter(tags=["rates"])


def check_country(country: str, *, allow_all: bool = False) -> str:
    """``sms.CountryEnum``: a known 2-letter country code (lowercase), or ``all`` where allowed."""
    code = country.strip().lower()
    if allow_all and code == "all":
        return code
    if len(code) != 2 or not code.isalpha() or phonenumbers.country_code_for_region(code.upper()) == 0:
        raise BadRequest(f"country: {country!r} is not a known country code")
    return code


def check_billing_country(value: str | None) -> None:
    if value is not None and value.strip().lower() not in billing.BILLING_COUNTRIES:
        raise BadRequest(f"billingCountry: {value!r} is not one of {', '.join(billing.BILLING_COUNTRIES)}")


@router.post("/sms/estimate", summary="Encoding, length and parts of a message (sms.JobEstimate)")
def estimate(body: Estimate, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    text = compose_text(body.message, body.noStopClause, state_of(request).settings)
    info = describe_text(text)
    return {
        "characters": info.characters,
        "charactersClass": info.encoding.value,
        "maxCharactersPerPart": info.max_per_part,
        "parts": info.parts,
    }


@router.get("/sms/ptts", summary="Meaning of a ptt code (sms.PttDetails)")
def ptt_details(caller: Caller = Depends(authenticate), ptt: int = Query(...)) -> dict:
    details = PTT.get(ptt)
    if details is None:
        raise NotFound(f"ptt: unknown code {ptt}")
    return {"comment": details.comment, "description": details.description, "duration": details.duration}


@router.get("/sms/rates/destinations", summary="Credits and price of one SMS towards a country (unauthenticated)")
def destination_rates(request: Request, country: str = Query(...), billingCountry: str | None = Query(default=None)) -> dict:
    """``sms.DestinationRates``: credits from the ``credit_rates`` settings (what jobs are charged),
    price at the first pack's credit price, without tax."""
    code = check_country(country)
    check_billing_country(billingCountry)
    book = billing.price_book(state_of(request).settings)
    return {"country": country_name(code), "countryCode": code, "credit": book.credit_rate(code), "price": book.sms_price(code)}


@router.get("/sms/rates/packs", summary="Prices of the SMS packs towards a country (unauthenticated)")
def pack_rates(request: Request, country: str = Query(...), billingCountry: str | None = Query(default=None)) -> list[dict]:
    """``sms.PackDetails[]``: the price book's degressive packs (prices without tax)."""
    code = check_country(country, allow_all=True)
    check_billing_country(billingCountry)
    return billing.price_book(state_of(request).settings).pack_details(code)
