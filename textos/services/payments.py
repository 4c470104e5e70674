"""How customers pay for orders: the ``PaymentProvider`` plug-in point and its registry.

Register a provider with :func:`register_provider`; ``manual`` (an administrator
confirms) is always there.
"""

from __future__ import annotations

from typing import Protocol

from textos.storage.models_billing import Order


class PaymentProvider(Protocol):
    """How customers pay. A provider renders the payment page's action and, when its
    payment succeeds (webhook, return URL…), calls ``services.orders.confirm_payment``
    with its name and reference — the only way an order gets credited."""

    name: str

    def instructions(self, order: Order) -> str:
        """HTML fragment shown on the payment page of an unpaid order."""
        ...


class ManualPayment:
    """Default: an administrator confirms payment (bank transfer, invoice…) with ``textos order pay ID``."""

    name = "manual"

    def instructions(self, order: Order) -> str:
        return (
            "<p>Pay this order as agreed with your provider (bank transfer quoting "
            f"<strong>order {order.id}</strong>). Once the payment is received, an administrator "
            f"confirms it with <code>textos order pay {order.id}</code> and the credits are added "
            "to the account at once.</p>"
        )


_providers: dict[str, PaymentProvider] = {"manual": ManualPayment()}


def register_provider(provider: PaymentProvider) -> None:
    _providers[provider.name] = provider


def provider(name: str = "manual") -> PaymentProvider:
    """The provider called ``name``; ``manual`` when there is none by that name."""
    return _providers.get(name) or _providers["manual"]
