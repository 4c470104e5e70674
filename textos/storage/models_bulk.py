"""Models of bulk sending: receiver slots, batches (see the bulk issue)."""

from __future__ import annotations
