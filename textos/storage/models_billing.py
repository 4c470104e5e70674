"""Models of money: orders, price book snapshots (see the credits issue)."""

from __future__ import annotations
