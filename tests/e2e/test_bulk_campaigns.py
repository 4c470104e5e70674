"""Bulk sending end to end: CSV documents over HTTP, mail merge, receiver slots, batches, `textos send`."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
import time
from typing import Callable, Iterator

import ovh
import pytest
from helpers import start_server, stop_server, wait_until
from receiver_documents import BOM, COOKBOOK, GARBAGE, HALF_INVALID

QUOTED = b'number,name,address\n+33612345678,"Dupont, Jean","1 rue X; b\xc3\xa2t ""B""\nParis"\n+33612345679,"Martin",""\n'
LATIN1 = "numéro;prénom\n0612345678;Hélène\n\n\n0612345679;Gaëlle\n".encode("latin-1")
DUPES = b"number;n\n+33612345678;a\n+33612345678;b\n0687654321;c\n0033612345678;d\n"

Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, bytes | Handler]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802
        route = self.server.routes.get(self.path)
        if callable(route):
            route(self)
            return
        data, status = (route, 200) if route is not None else (b"not found", 404)
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _never_answers(h: http.server.BaseHTTPRequestHandler) -> None:
    time.sleep(5)


@pytest.fixture(scope="module")
def csvs() -> Iterator[tuple[_Server, str]]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.routes = {
        "/cookbook.csv": COOKBOOK, "/bom.csv": BOM, "/quoted.csv": QUOTED, "/latin1.csv": LATIN1,
        "/half.csv": HALF_INVALID, "/dupes.csv": DUPES, "/empty.csv": b"", "/garbage.bin": GARBAGE,
        "/slow.csv": _never_answers,
    }
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _post_job(tenant, **body):  # type: ignore[no-untyped-def]
    return tenant.client.post(f"/sms/{tenant.service}/jobs", **body)


def _bad(tenant, path: str, **body) -> dict:  # type: ignore[no-untyped-def]
    with pytest.raises(ovh.exceptions.APIError) as caught:
        tenant.client.post(path, **body)
    return caught.value.response.json()


# --------------------------------------------------------------------------- documents


@pytest.mark.parametrize(
    "path, valid, invalid",
    [
        ("/bom.csv", ["+33612345678"], []),
        ("/quoted.csv", ["+33612345678", "+33612345679"], []),
        ("/latin1.csv", ["+33612345678", "+33612345679"], []),
        ("/dupes.csv", ["+33612345678", "+33687654321"], []),
    ],
)
def test_tricky_documents(tenant, csvs, path, valid, invalid):
    _, base = csvs
    report = _post_job(tenant, message="hi", noStopClause=True, receiversDocumentUrl=base + path)
    assert report["validReceivers"] == valid
    assert report["invalidReceivers"] == invalid
    assert len(report["ids"]) == len(valid)
    assert report["totalCreditsRemoved"] == len(valid)
    assert tenant.credits() == 100 - len(valid)


def test_half_invalid_numbers(tenant, csvs):
    _, base = csvs
    report = _post_job(tenant, message="hi", noStopClause=True, receiversDocumentUrl=base + "/half.csv")
    assert len(report["validReceivers"]) == 50 and len(report["invalidReceivers"]) == 50
    assert report["invalidReceivers"][0] == "not-a-number-0"
    assert tenant.credits() == 50.0


@pytest.mark.parametrize("path", ["/empty.csv", "/garbage.bin", "/missing.csv"])
def test_unusable_documents_are_400_and_free(tenant, csvs, path):
    _, base = csvs
    answer = _bad(tenant, f"/sms/{tenant.service}/jobs", message="hi", receiversDocumentUrl=base + path)
    assert answer["class"] == "Client::BadRequest"
    assert answer["message"].startswith("receiversDocumentUrl: ")
    assert tenant.credits() == 100.0
    assert tenant.client.get(f"/sms/{tenant.service}/jobs") == []


def test_cookbook_mail_merge(tenant, csvs):
    _, base = csvs
    report = _post_job(
        tenant, receiversDocumentUrl=base + "/cookbook.csv", noStopClause=True, tag="merge",
        message="Bonjour #prenom# #nom#, livraison : #adresse# .",
    )
    assert report["validReceivers"] == ["+33662000000", "+33662000001"]
    outgoing = tenant.wait_final(report["ids"])
    assert [o["message"] for o in outgoing] == [
        "Bonjour Pierre Durant, livraison : xx rue montaigne Paris .",
        "Bonjour Jean Dupont, livraison : xx rue montaigne Paris .",
    ]
    assert all(o["deliveryReceipt"] == 1 for o in outgoing)


def test_mail_merge_missing_column_or_empty_value_is_400_before_sending(tenant, csvs):
    srv, base = csvs
    answer = _bad(tenant, f"/sms/{tenant.service}/jobs", message="Bonjour #prenom# #ville#",
                  receiversDocumentUrl=base + "/cookbook.csv")
    assert answer["message"].startswith("message: ") and "ville" in answer["message"]
    srv.routes["/holes.csv"] = b"number;prenom\n+33612345601;Ana\n+33612345602;\n"
    answer = _bad(tenant, f"/sms/{tenant.service}/jobs", message="Bonjour #prenom#",
                  receiversDocumentUrl=base + "/holes.csv")
    assert "prenom" in answer["message"] and "empty" in answer["message"]
    assert tenant.credits() == 100.0
    assert tenant.client.get(f"/sms/{tenant.service}/jobs") == []


def test_mail_merge_non_gsm_value_switches_that_recipient_to_ucs2(tenant, csvs):
    srv, base = csvs
    srv.routes["/ucs2.csv"] = "number;prenom\n+33612345611;Anne\n+33612345612;Łucja\n".encode()
    text = "Bonjour #prenom#, " + "x" * 60  # 1 GSM part; 2 UCS-2 parts
    report = _post_job(tenant, message=text, noStopClause=True, receiversDocumentUrl=base + "/ucs2.csv")
    assert report["totalCreditsRemoved"] == 3.0
    first, second = tenant.wait_final(report["ids"])
    assert (first["numberOfSms"], first["credits"]) == (1, 1.0)
    assert (second["numberOfSms"], second["credits"]) == (2, 2.0)
    assert second["message"].startswith("Bonjour Łucja, ")


def test_not_enough_credits_is_all_or_nothing(server, csvs):
    tenant = server.tenant(credits=10)
    _, base = csvs
    answer = _bad(tenant, f"/sms/{tenant.service}/jobs", message="hi", receiversDocumentUrl=base + "/half.csv")
    assert answer["class"] == "Client::Forbidden::NotEnoughCredits"
    assert tenant.credits() == 10.0
    assert tenant.client.get(f"/sms/{tenant.service}/jobs") == []


# --------------------------------------------------------------------------- slots


def test_slot_lifecycle(tenant, csvs):
    srv, base = csvs
    svc = f"/sms/{tenant.service}"
    srv.routes["/slot.csv"] = b"number;prenom\n+33612345621;Ana\nbad;Bob\n+33612345621;Ana again\n+33612345622;Cy\n"
    slot = tenant.client.post(f"{svc}/receivers", csvUrl=base + "/slot.csv", description="clients", slotId=3, autoUpdate=False)
    assert (slot["slotId"], slot["records"], slot["description"], slot["canAutoUpdate"]) == (3, 4, "clients", True)
    assert tenant.client.get(f"{svc}/receivers") == [3]
    assert _bad(tenant, f"{svc}/receivers", csvUrl=base + "/slot.csv", description="x", slotId=3, autoUpdate=False)["class"] == "Client::Conflict"
    assert "slotId" in _bad(tenant, f"{svc}/receivers", csvUrl=base + "/slot.csv", description="x", slotId=12, autoUpdate=False)["message"]
    assert "Cy" in tenant.client.get(f"{svc}/receivers/3/csv")
    tenant.client.put(f"{svc}/receivers/3", description="best clients")
    assert tenant.client.get(f"{svc}/receivers/3")["description"] == "best clients"

    report = _post_job(tenant, message="Hi #prenom#", noStopClause=True, receiversSlotId="3")
    assert report["validReceivers"] == ["+33612345621", "+33612345622"]
    assert report["invalidReceivers"] == ["bad"]

    priced = tenant.client.post(f"{svc}/receivers/3/clean", freemium=True, priceOnly=True)
    assert priced["textosCleanReport"]["applied"] is False and tenant.client.get(f"{svc}/receivers/3")["records"] == 4
    cleaned = tenant.client.post(f"{svc}/receivers/3/clean", freemium=True, priceOnly=False)
    assert set(cleaned) == {"taskId", "totalCreditsRemoved", "textosCleanReport"}  # sms.ReceiversAsynchronousCleanReport + extension
    assert cleaned["totalCreditsRemoved"] == 0.0 and cleaned["taskId"] > priced["taskId"] > 0
    assert cleaned["textosCleanReport"] == {"records": 2, "invalidReceivers": 1, "duplicates": 1, "blacklisted": 0, "applied": True}
    assert tenant.client.get(f"{svc}/receivers/3")["records"] == 2
    assert "bad" not in tenant.client.get(f"{svc}/receivers/3/csv")
    assert tenant.client.get(f"{svc}/task/{cleaned['taskId']}") == {
        "function": "cleanSmsReceivers", "status": "done", "step": "finishing", "taskId": cleaned["taskId"]}
    assert tenant.client.get(f"{svc}/task") == tenant.client.get(f"{svc}/task", status="done") == [priced["taskId"], cleaned["taskId"]]
    assert tenant.client.get(f"{svc}/task", status="todo") == []
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        tenant.client.get(f"{svc}/task", status="finished")
    assert "status" in caught.value.response.json()["message"]
    other = tenant.server.tenant()
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        other.client.get(f"/sms/{other.service}/task/{cleaned['taskId']}")

    tenant.client.delete(f"{svc}/receivers/3")
    assert tenant.client.get(f"{svc}/receivers") == []
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        tenant.client.get(f"{svc}/receivers/3")
    assert "receiversSlotId" in _bad(tenant, f"{svc}/jobs", message="hi", receiversSlotId="3")["message"]


def test_slot_auto_update_refetches_before_each_use(tenant, csvs):
    srv, base = csvs
    svc = f"/sms/{tenant.service}"
    srv.routes["/auto.csv"] = b"number\n+33612345631\n"
    tenant.client.post(f"{svc}/receivers", csvUrl=base + "/auto.csv", description="auto", slotId=1, autoUpdate=True)
    srv.routes["/auto.csv"] = b"number\n+33612345632\n+33612345633\n"
    report = _post_job(tenant, message="hi", noStopClause=True, receiversSlotId="1")
    assert report["validReceivers"] == ["+33612345632", "+33612345633"]
    assert tenant.client.get(f"{svc}/receivers/1")["records"] == 2


def test_a_slot_is_named_by_a_number_as_well_as_a_string(tenant, csvs):
    srv, base = csvs
    svc = f"/sms/{tenant.service}"
    srv.routes["/numbered.csv"] = b"number\n+33612345641\n"
    tenant.client.post(f"{svc}/receivers", csvUrl=base + "/numbered.csv", description="n", slotId=4, autoUpdate=False)
    # OVH's schema types receiversSlotId and slotID as strings; its clients send 4 as well as "4"
    assert _post_job(tenant, message="hi", noStopClause=True, receiversSlotId=4)["validReceivers"] == ["+33612345641"]
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=300)).replace(microsecond=0)
    batch = tenant.client.post(f"{svc}/batches", name="numbered", message="hi", slotID=4, deferred=later.isoformat(), noStop=True)
    assert _wait_batch(tenant, batch["id"], ("INSERTED",))["slotID"] == "4"
    assert "receiversSlotId" in _bad(tenant, f"{svc}/jobs", message="hi", receiversSlotId=12)["message"]
    assert "receiversSlotId" in _bad(tenant, f"{svc}/jobs", message="hi", receiversSlotId=True)["message"]


# --------------------------------------------------------------------------- batches


def _wait_batch(tenant, batch_id: str, statuses=("COMPLETED",)) -> dict:  # type: ignore[no-untyped-def]
    def done() -> dict | None:
        b = tenant.client.get(f"/sms/{tenant.service}/batches/{batch_id}")
        return b if b["status"] in statuses else None

    return wait_until(done, timeout=30, interval=0.1, what=f"batch {batch_id} in {statuses}")


def test_batch_with_receivers_statistics_after_delivery(tenant):
    svc = f"/sms/{tenant.service}"
    to = ["+33612345641", "+33612345642", "+33699000001", "nonsense", "+33612345641"]
    batch = tenant.client.post(f"{svc}/batches", name="spring", message="Sale!", to=to, noStop=True, tag="spring")
    assert batch["status"] in ("PENDING", "INSERTING", "INSERTED", "COMPLETED") and batch["name"] == "spring"
    done = _wait_batch(tenant, batch["id"])
    assert (done["processedRecords"], done["totalRecords"]) == (5, 5)
    assert done["errors"] == [{"message": "invalid receiver or destination not allowed", "receiver": "nonsense"}]

    def delivered() -> dict | None:
        s = tenant.client.get(f"{svc}/batches/{batch['id']}/statistics")
        return s if s["pending"] == 0 and s["sent"] == 0 else None

    stats = wait_until(delivered, timeout=20, what="batch delivery")
    assert (stats["delivered"], stats["failed"], stats["stoplisted"]) == (2, 1, 0)
    assert stats["credits"] == 3.0 and stats["estimatedCredits"] == 3.0
    ids = tenant.client.get(f"{svc}/outgoing", batchID=batch["id"])
    assert len(ids) == 3
    assert tenant.client.get(f"{svc}/outgoing/{ids[0]}")["batchID"] == batch["id"]
    done = _wait_batch(tenant, batch["id"])  # finished when its last SMS settled, however late it was seen
    sent = [tenant.client.get(f"{svc}/outgoing/{i}")["sentAt"] for i in ids]
    assert max(sent) <= done["finishedAt"] <= done["updatedAt"]
    renamed = tenant.client.put(f"{svc}/batches/{batch['id']}", name="spring sale")
    assert renamed["name"] == "spring sale" and renamed["updatedAt"] >= done["updatedAt"]
    assert renamed["finishedAt"] == done["finishedAt"]
    assert [b["id"] for b in tenant.client.get(f"{svc}/batches")] == [batch["id"]]
    tenant.client.delete(f"{svc}/batches/{batch['id']}")
    assert tenant.client.get(f"{svc}/batches") == []
    assert tenant.credits() == 97.0


def test_batch_from_slot_deferred_then_canceled_is_refunded(tenant, csvs):
    srv, base = csvs
    svc = f"/sms/{tenant.service}"
    srv.routes["/batch-slot.csv"] = b"number;name\n+33612345651;A\n+33612345652;B\n"
    tenant.client.post(f"{svc}/receivers", csvUrl=base + "/batch-slot.csv", description="b", slotId=2, autoUpdate=False)
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=300)).replace(microsecond=0)
    batch = tenant.client.post(f"{svc}/batches", name="later", message="Hi #name#", slotID="2",
                               deferred=later.isoformat(), **{"from": None}, noStop=True)
    inserted = _wait_batch(tenant, batch["id"], ("INSERTED",))
    assert inserted["slotID"] == "2" and inserted["sentAt"] == later.isoformat()
    assert tenant.credits() == 98.0
    assert tenant.client.post(f"{svc}/batches/{batch['id']}/cancel")["status"] == "CANCELED"
    assert tenant.credits() == 100.0
    stats = tenant.client.get(f"{svc}/batches/{batch['id']}/statistics")
    assert (stats["pending"], stats["credits"]) == (0, 0.0)


def test_batch_failure_is_visible_and_free(tenant):
    svc = f"/sms/{tenant.service}"
    batch = tenant.client.post(f"{svc}/batches", name="nobody", message="hi", to=["garbage"])
    failed = _wait_batch(tenant, batch["id"], ("FAILED",))
    assert "no valid receiver" in failed["errors"][0]["message"]
    assert tenant.credits() == 100.0
    assert "slotID" in _bad(tenant, f"{svc}/batches", message="hi", slotID="7")["message"]
    assert "to" in _bad(tenant, f"{svc}/batches", message="hi")["message"]


# --------------------------------------------------------------------------- CLI


def test_textos_send_cli(server, tmp_path):
    tenant = server.tenant()
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes(COOKBOOK)
    summary = server.cli("send", "--service", tenant.service, "--csv", str(contacts), "--message", "Bonjour #prenom#",
                         "--no-stop-clause", "--timeout", "30")
    assert summary["status"] == "COMPLETED"
    assert (summary["valid"], summary["delivered"], summary["failed"], summary["credits"]) == (2, 2, 0, 2.0)
    assert tenant.credits() == 98.0


# --------------------------------------------------------------------------- fetch policy on a dedicated server


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory, make_database):  # type: ignore[no-untyped-def]
    srv = start_server(make_database("sqlite"), tmp_path_factory.mktemp("strict"), "sqlite",
                       extra_env={"TEXTOS_FETCH_ALLOW_PRIVATE": "0", "TEXTOS_FETCH_TIMEOUT": "1.5"})
    yield srv
    stop_server(srv)


def test_loopback_refused_unless_allowed(strict_server, csvs):
    _, base = csvs
    tenant = strict_server.tenant()
    answer = _bad(tenant, f"/sms/{tenant.service}/jobs", message="hi", receiversDocumentUrl=base + "/bom.csv")
    assert answer["message"].startswith("receiversDocumentUrl: ") and "loopback" in answer["message"]
    answer = _bad(tenant, f"/sms/{tenant.service}/receivers", csvUrl=base + "/bom.csv", description="x", slotId=1, autoUpdate=False)
    assert answer["message"].startswith("csvUrl: ") and "loopback" in answer["message"]
    assert tenant.credits() == 100.0


def test_server_that_never_answers(server, csvs, tmp_path_factory, make_database):
    if server.backend != "sqlite":
        pytest.skip("fetch behaviour does not depend on the backend")
    srv = start_server(make_database("sqlite"), tmp_path_factory.mktemp("timeout"), "sqlite",
                       extra_env={"TEXTOS_FETCH_TIMEOUT": "1.5"})
    try:
        tenant = srv.tenant()
        started = time.monotonic()
        answer = _bad(tenant, f"/sms/{tenant.service}/jobs", message="hi", receiversDocumentUrl=csvs[1] + "/slow.csv")
        assert time.monotonic() - started < 10
        assert answer["message"].startswith("receiversDocumentUrl: ") and "s" in answer["message"]
        assert tenant.credits() == 100.0
    finally:
        stop_server(srv)
