"""Consumption: the CSV export of a period (``GET /sms/{s}/document`` → ``GET /me/document/{id}``
→ ``getUrl``) holds exactly the messages sent, spreadsheet formulas neutralised; a user's export
only that user's; the consumption report (API and ``textos consumption``) agrees with the outgoing list."""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from collections import defaultdict

import httpx
import ovh
import pytest
from sqlalchemy import update

from helpers import Server, Tenant, wait_until
from textos.cli.main import app as cli_app
from textos.domain.passwords import hash_password
from textos.storage.db import Database
from textos.storage.models import Account, Job, SmsUser

OUTGOING_HEADER = ["id", "date", "sender", "receiver", "ptt", "operatorCode", "descriptionDlr", "tag", "message", "sentAt", "deliveredAt"]
FORMULA = '=HYPERLINK("http://x")'


def _handset() -> str:
    return f"+3361{secrets.randbelow(10**7):07d}"


def _download(tenant: Tenant, document_id: str) -> tuple[dict, str]:
    """Poll ``GET /me/document/{id}`` until its size is set (as OVH's guide does), then GET its
    ``getUrl`` with no signature at all."""
    document = wait_until(lambda: (d := tenant.client.get(f"/me/document/{document_id}"))["size"] > 0 and d, what="the export written")
    answer = httpx.get(document["getUrl"])
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert len(answer.content) == document["size"]
    return document, answer.content.decode()


def _rows(text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    header, *rows = list(reader)
    return [dict(zip(header, row, strict=True)) for row in rows]


def _send(tenant: Tenant) -> list[int]:
    c, svc = tenant.client, tenant.service
    ids = c.post(f"/sms/{svc}/jobs", message="Hello; you \"there\"\nsecond line", receivers=[_handset(), _handset()], tag="promo")["ids"]
    ids += c.post(f"/sms/{svc}/jobs", message=FORMULA, receivers=[_handset()], tag="-evil", noStopClause=True)["ids"]
    ids += c.post(f"/sms/{svc}/jobs", message="a" * 300, receivers=[_handset()], noStopClause=True)["ids"]  # 2 parts, no tag
    tenant.wait_final(ids)
    return ids


def test_the_csv_export_of_a_period_holds_the_messages_sent_neutralised(server, tenant):
    c, svc = tenant.client, tenant.service
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=1)
    ids = _send(tenant)
    document_id = c.get(f"/sms/{svc}/document", wayType="outgoing", **{"creationDatetime.from": start.isoformat()})
    document, text = _download(tenant, document_id)
    assert document["id"] == document_id and document["name"].endswith(".csv") and document["putUrl"] == ""
    assert {"key": "sms_account", "value": svc} in document["tags"]
    assert document["expirationDate"] > document["creationDate"]
    assert text.splitlines()[0] == ";".join(OUTGOING_HEADER)

    rows = _rows(text)
    assert [int(r["id"]) for r in rows] == sorted(ids)
    for row in rows:
        outgoing = c.get(f"/sms/{svc}/outgoing/{row['id']}")
        assert row["receiver"] == outgoing["receiver"] and row["receiver"].startswith("+336")  # E.164 left usable
        assert row["sender"] == outgoing["sender"] and int(row["ptt"]) == outgoing["ptt"]
        assert row["descriptionDlr"] == "Success"
        assert row["date"] == dt.datetime.fromisoformat(outgoing["creationDatetime"]).strftime("%Y-%m-%d %H:%M:%S")
        assert row["deliveredAt"] == dt.datetime.fromisoformat(outgoing["deliveredAt"]).strftime("%Y-%m-%d %H:%M:%S")
        if outgoing["message"] == FORMULA:
            assert row["message"] == "'" + FORMULA and row["tag"] == "'-evil"  # shown as text by a spreadsheet
        else:
            assert row["message"] == outgoing["message"] and row["tag"] == (outgoing["tag"] or "")
    assert f'"\'{FORMULA.replace(chr(34), chr(34) * 2)}"' in text  # OVH's quoting: text cells quoted, quotes doubled

    only_promo = c.get(f"/sms/{svc}/document", wayType="outgoing", tag="promo", **{"creationDatetime.from": start.isoformat()})
    assert {r["tag"] for r in _rows(_download(tenant, only_promo)[1])} == {"promo"}

    # the URL is the secret: a wrong one is a 404, another customer cannot see the document
    assert httpx.get(document["getUrl"] + "x").status_code == 404
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        server.tenant().client.get(f"/me/document/{document_id}")
    with pytest.raises(ovh.exceptions.BadParametersError) as caught:
        c.get(f"/sms/{svc}/document", wayType="sideways")
    assert "wayType" in caught.value.response.json()["message"]


def test_an_incoming_export_lists_the_replies(server, tenant):
    c, svc, handset = tenant.client, tenant.service, _handset()
    sent = c.post(f"/sms/{svc}/jobs", message="Coming?", receivers=[handset], senderForResponse=True, noStopClause=True, tag="rsvp")
    tenant.wait_final(sent["ids"])
    result = server.runner.invoke(cli_app, ["mo", "--sender", handset, "--text", "@everyone yes", "--reply-to-last",
                                            "--url", f"http://127.0.0.1:{server.port}"])
    assert result.exit_code == 0, result.output
    (incoming_id,) = wait_until(lambda: c.get(f"/sms/{svc}/incoming"), what="the reply")
    (row,) = _rows(_download(tenant, c.get(f"/sms/{svc}/document", wayType="incoming"))[1])
    assert row == {"id": str(incoming_id), "date": row["date"], "sender": handset, "receiver": row["receiver"], "tag": "rsvp",
                   "message": "'@everyone yes", "credits": "1.0"}


def _make_user(server: Server, tenant: Tenant, login: str, job_ids: list[int]) -> None:
    """A user made through the model (the users API is another change), and ``job_ids`` sent as it."""
    db = Database(server.database_url)
    try:
        with db.session() as session:
            account = session.query(Account).filter_by(service_name=tenant.service).one()
            user = SmsUser(account_id=account.id, login=login, password_hash=hash_password("abcd1234"), ip_restrictions=[])
            session.add(user)
            session.flush()
            session.execute(update(Job).where(Job.id.in_(job_ids)).values(user_id=user.id))
    finally:
        db.dispose()


def test_a_users_export_and_the_consumption_report_agree_with_the_outgoing_list(server, tenant):
    c, svc = tenant.client, tenant.service
    ids = _send(tenant)
    by_job = {}
    for i in ids:
        by_job.setdefault(c.get(f"/sms/{svc}/outgoing/{i}")["message"], []).append(i)
    # the formula's message was its own job: the job ids are the messages' jobs (one job per POST)
    db = Database(server.database_url)
    try:
        with db.read() as session:
            from textos.storage.models import Message
            job_of = {m.id: m.job_id for m in session.query(Message).filter(Message.id.in_(ids))}
    finally:
        db.dispose()
    user_messages = by_job[FORMULA]
    _make_user(server, tenant, "alice", [job_of[i] for i in user_messages])

    rows = _rows(_download(tenant, c.get(f"/sms/{svc}/users/alice/document", wayType="outgoing"))[1])
    assert [int(r["id"]) for r in rows] == user_messages
    with pytest.raises(ovh.exceptions.ResourceNotFoundError):
        c.get(f"/sms/{svc}/users/nobody/document", wayType="outgoing")

    outgoing = [c.get(f"/sms/{svc}/outgoing/{i}") for i in c.get(f"/sms/{svc}/outgoing")]
    now = dt.datetime.now(dt.timezone.utc)
    month = now.strftime("%Y-%m")
    for by, key in (("tag", lambda o: o["tag"] or ""), ("sender", lambda o: o["sender"]),
                    ("user", lambda o: "alice" if o["id"] in user_messages else None)):
        expected: dict = defaultdict(lambda: [0, 0, 0.0])
        for o in outgoing:
            expected[key(o)][0] += 1
            expected[key(o)][1] += o["numberOfSms"]
            expected[key(o)][2] += o["credits"]
        report = c.get(f"/sms/{svc}/consumption", by=by, **{"from": (now - dt.timedelta(hours=1)).isoformat()})
        got = {g["group"]: [g["messages"], g["parts"], pytest.approx(g["credits"])] for g in report["groups"]}
        assert got == {k: [v[0], v[1], pytest.approx(v[2])] for k, v in expected.items()}, by
        assert report["total"]["messages"] == len(outgoing) and report["by"] == by
        cli = server.cli("consumption", "--service", svc, "--month", month, "--by", by)
        assert cli["groups"] == report["groups"] and cli["total"] == report["total"]
    printed = server.runner.invoke(cli_app, ["consumption", "--service", svc, "--month", month, "--by", "user", "--csv",
                                             "--database-url", server.database_url])
    assert printed.exit_code == 0, printed.output
    user_rows = list(csv.reader(io.StringIO(printed.stdout), delimiter=";"))
    assert user_rows[0] == ["user", "messages", "parts", "credits"] and user_rows[-1][0] == "total"
    assert {r[0] for r in user_rows[1:-1]} == {"alice", ""} and int(user_rows[-1][1]) == len(outgoing)
    assert c.get(f"/sms/{svc}/consumption", by="tag", **{"from": (now + dt.timedelta(days=1)).isoformat()})["groups"] == []
    with pytest.raises(ovh.exceptions.BadParametersError):
        c.get(f"/sms/{svc}/consumption", by="colour")
