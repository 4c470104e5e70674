"""Time as Textos stores and shows it: naive UTC in the database, ISO 8601 with offset on the wire."""

from __future__ import annotations

import datetime as dt
from typing import overload


def utcnow() -> dt.datetime:
    """Now, as stored: naive UTC."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@overload
def naive_utc(moment: dt.datetime) -> dt.datetime: ...
@overload
def naive_utc(moment: None) -> None: ...
def naive_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """An aware datetime converted to naive UTC; a naive one (``2026-12-01T10:00``, or a date alone,
    its midnight) is taken as UTC already. Every date filter of the API reads its value so."""
    if moment is not None and moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def naive_utc_until(moment: dt.datetime | None) -> dt.datetime | None:
    """The upper bound of a ``….to`` filter, in naive UTC (as ``naive_utc``): a time given to the
    second covers that whole second, since times are shown to the second (``iso``), so filtering
    up to a message's own ``creationDatetime`` finds it."""
    moment = naive_utc(moment)
    if moment is not None and moment.microsecond == 0:
        moment = moment.replace(microsecond=999_999)
    return moment


def iso(moment: dt.datetime | None) -> str | None:
    """A stored naive-UTC datetime as OVH prints it (``2026-11-24T22:51:38+00:00``)."""
    if moment is None:
        return None
    return moment.replace(microsecond=0, tzinfo=dt.timezone.utc).isoformat()
