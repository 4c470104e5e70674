"""Use cases: what the API and the CLI ask of Textos.

Importing any service subscribes the automatic top-up to the ledger's threshold
crossings (``services.topup``), so every debit made through a service can trigger it.
"""

from textos.services import topup as _topup  # noqa: F401  (subscribes to the ledger)
