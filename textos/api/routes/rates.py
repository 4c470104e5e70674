"""``/sms/estimate``, ``/sms/ptts``, ``/sms/rates/*``: what a message costs and what codes mean."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

import phonenumbers
from phonenumbers import geocoder

from textos.api.auth import Caller, authenticate
from textos.api.schemas import Estimate
from textos.api.state import state_of
from textos.domain.ptt import PTT
from textos.services.errors import BadRequest, NotFound
from textos.services.sending import compose_text, describe_text

router = APIRouter(tags=["rates"])

CREDIT_PRICE_EUR = 0.07


def country_name(code: str) -> str:
    number = phonenumbers.example_number(code.upper())
    name = geocoder.country_name_for_number(number, "en") if number else ""
    return name or code.upper()


def price(value: float, currency: str = "EUR") -> dict:
    return {"currencyCode": currency, "text": f"{value:.2f} €" if currency == "EUR" else f"{value:.2f} {currency}", "value": round(value, 4)}


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


@router.get("/sms/rates/destinations", summary="Credits per SMS towards a country (unauthenticated)")
def destination_rates(request: Request, country: str = Query(...), billingCountry: str | None = Query(default=None)) -> dict:
    code = country.strip().lower()
    if len(code) != 2 or not code.isalpha() or phonenumbers.country_code_for_region(code.upper()) == 0:
        raise BadRequest(f"country: {country!r} is not a known country code")
    credit = state_of(request).settings.credit_rate(code.upper())
    return {"country": country_name(code), "countryCode": code, "credit": credit, "price": price(credit * CREDIT_PRICE_EUR)}
