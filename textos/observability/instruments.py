"""The process's Prometheus instruments (``prometheus_client``), recorded where things happen.

Each costs a lock and a few additions per event; nothing here touches the database (the
database-derived gauges are computed at scrape time, ``services.metrics``). Label sets are
bounded: routes are templates (``/1.0/sms/{serviceName}/jobs``), carriers are configured names.

With ``textos serve --workers N`` the server points ``PROMETHEUS_MULTIPROC_DIR`` at a directory of
its own before the workers start (``prometheus_client``'s multiprocess mode): each process writes
its values there and ``/metrics``, whichever worker answers, adds them up. The gauges say how
(``multiprocess_mode``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

http_request_seconds = Histogram(
    "textos_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
    ["method", "route", "status"], buckets=HTTP_BUCKETS,
)

carrier_submit_seconds = Histogram(
    "textos_carrier_submit_seconds", "Time a carrier takes to answer a batch of submits (every part answered).",
    ["carrier"], buckets=HTTP_BUCKETS,
)
carrier_submits = Counter(
    "textos_carrier_submits", "Messages handed to a carrier, by outcome (accepted, rejected, retry).", ["carrier", "outcome"],
)
carrier_receipts = Counter("textos_carrier_receipts", "Delivery receipts received, by carrier and state.", ["carrier", "state"])
carrier_throttled = Counter(
    "textos_carrier_throttled", "Parts a carrier refused as 'try later' (throttled, queue full), sent again slower.", ["carrier"],
)
carrier_window_in_use = Gauge(
    "textos_carrier_window_in_use", "Parts awaiting the carrier's submit response (SMPP window occupancy).",
    ["carrier"], multiprocess_mode="livesum",
)
carrier_window_size = Gauge(
    "textos_carrier_window_size", "Room in the carrier's windows (window per bound transmitting bind).",
    ["carrier"], multiprocess_mode="livesum",
)
carrier_up = Gauge("textos_carrier_up", "1 while the carrier has a bound transmitting link.", ["carrier"], multiprocess_mode="livemax")
