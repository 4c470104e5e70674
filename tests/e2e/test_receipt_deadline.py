"""The receipt deadline seen by a client: a carrier that accepts every SMS and never sends
its receipts (``deliver_sm``); after ``receipt_timeout`` the messages settle as "no receipt"
(ptt 6), and their campaign completes only then."""

from __future__ import annotations

import pytest

from helpers import BACKENDS, ThreadedSmsc, start_server, stop_server, wait_until


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_campaign_whose_receipts_never_come_settles_as_no_receipt_and_only_then_completes(make_database, tmp_path, backend):
    smsc = ThreadedSmsc(receipt_delay=0.01, receipt_loss_every=1)  # every receipt lost
    server = start_server(
        make_database(backend), tmp_path, backend, extra_env={"TEXTOS_RECEIPT_TIMEOUT": "4"},
        args=["--smsc", f"smpp://a:a@127.0.0.1:{smsc.sim.port}"],
    )
    try:
        tenant = server.tenant()
        svc = f"/sms/{tenant.service}"
        batch = tenant.client.post(f"{svc}/batches", name="lost", message="hi", to=["+33612345601", "+33612345602"], noStop=True)
        statistics = f"{svc}/batches/{batch['id']}/statistics"

        def both_sent() -> dict | None:
            s = tenant.client.get(statistics)
            return s if s["sent"] == 2 else None

        stats = wait_until(both_sent, what="both sent")
        assert tenant.client.get(f"{svc}/batches/{batch['id']}")["status"] == "INSERTED"  # receipts may still come
        assert (stats["pending"], stats["failed"], stats["noReceipt"]) == (0, 0, 0)

        def completed() -> dict | None:
            b = tenant.client.get(f"{svc}/batches/{batch['id']}")
            return b if b["status"] == "COMPLETED" else None

        wait_until(completed, timeout=40, interval=0.2, what="batch completed")
        stats = tenant.client.get(statistics)
        assert (stats["sent"], stats["delivered"], stats["failed"], stats["noReceipt"]) == (0, 0, 2, 2)
        ids = tenant.client.get(f"{svc}/outgoing", batchID=batch["id"])
        outgoing = [tenant.client.get(f"{svc}/outgoing/{i}") for i in ids]
        assert [(o["ptt"], o["deliveryReceipt"], o["credits"]) for o in outgoing] == [(6, 2, 1.0)] * 2
        assert tenant.client.get(f"{svc}/outgoing", ptt=6, batchID=batch["id"]) == ids
        assert tenant.credits() == 98.0  # sent: charged
        assert smsc.sim.receipts_lost == 2
    finally:
        stop_server(server)
        smsc.close()
