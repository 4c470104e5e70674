"""``/sms/estimate``, ``/sms/ptts``, ``/sms/rates/*``: what a message costs and what codes mean."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from textos.api.auth import Caller, authenticate
from textos.api.schemas import Estimate, Out, Price
from textos.api.state import state_of
from textos.domain.countries import check_country
from textos.domain.errors import NotFound
from textos.domain.ptt import PTT
from textos.services import prices
from textos.services.recipients import compose_text, describe_text

router = APIRouter(tags=["rates"])


class JobEstimate(Out):
    """``sms.JobEstimate``."""

    characters: int
    charactersClass: Literal["7bits", "unicode"]
    maxCharactersPerPart: int
    parts: int


class PttDetails(Out):
    """``sms.PttDetails``."""

    comment: str
    description: str
    duration: Literal["indeterminated", "permanent", "temporary"]


class DestinationRates(Out):
    """``sms.DestinationRates``."""

    country: str
    countryCode: str
    credit: float
    price: Price


class PackDetails(Out):
    """``sms.PackDetails``."""

    countryCode: str
    credit: float
    creditPrice: Price
    creditQuantityMax: int | None
    creditQuantityMin: int
    discountCreditPrice: Price | None
    discountPercentage: int | None
    discountSmsPrice: Price | None
    smsPrice: Price
    smsQuantityMax: int | None
    smsQuantityMin: int


@router.post("/sms/estimate", summary="Encoding, length and parts of a message (sms.JobEstimate)", response_model=JobEstimate)
def estimate(body: Estimate, request: Request, caller: Caller = Depends(authenticate)) -> dict:
    text = compose_text(body.message, body.noStopClause, state_of(request).settings)
    info = describe_text(text)
    return {
        "characters": info.characters,
        "charactersClass": info.encoding.value,
        "maxCharactersPerPart": info.max_per_part,
        "parts": info.parts,
    }


@router.get("/sms/ptts", summary="Meaning of a ptt code (sms.PttDetails)", response_model=PttDetails)
def ptt_details(caller: Caller = Depends(authenticate), ptt: int = Query(...)) -> dict:
    details = PTT.get(ptt)
    if details is None:
        raise NotFound(f"ptt: unknown code {ptt}")
    return {"comment": details.comment, "description": details.description, "duration": details.duration}


@router.get("/sms/rates/destinations", summary="Credits and price of one SMS towards a country (unauthenticated)",
            response_model=DestinationRates)
def destination_rates(request: Request, country: str = Query(...), billingCountry: str | None = Query(default=None)) -> dict:
    """``sms.DestinationRates``: credits from the ``credit_rates`` settings (what jobs are charged),
    price at the first pack's credit price, without tax."""
    code = check_country(country)
    prices.check_billing_country(billingCountry)
    return prices.destination_rates(state_of(request).prices, code)


@router.get("/sms/rates/packs", summary="Prices of the SMS packs towards a country (unauthenticated)", response_model=list[PackDetails])
def pack_rates(request: Request, country: str = Query(...), billingCountry: str | None = Query(default=None)) -> list[dict]:
    """``sms.PackDetails[]``: the price book's degressive packs (prices without tax)."""
    code = check_country(country, allow_all=True)
    prices.check_billing_country(billingCountry)
    return prices.pack_details(state_of(request).prices, code)
