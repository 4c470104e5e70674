"""A user's history, slots and callbacks end to end, on the shared server with the real ``ovh``
client: a user's messages (sent through the one accept path with ``SendRequest.user_id``) are in
``/users/{login}/outgoing`` and not another user's; the replies to them in ``/users/{login}/incoming``;
the user has receiver slots of its own; the user's ``callBack`` hears its delivery events (the
account's does not), and the user's ``stopCallBack`` the STOP one of its messages caused.

Users are made in the database directly (``SmsUser``): their API is written beside this."""

from __future__ import annotations

import http.server
import secrets
import threading
from typing import Iterator

import ovh
import pytest
from sqlalchemy import select

from callback_sink import CallbackSink
from helpers import Server, wait_until
from textos.cli.main import app as cli_app
from textos.config import Settings
from textos.domain.passwords import hash_password
from textos.services.jobs import SendRequest, accept
from textos.storage.db import Database
from textos.storage.models import Account, SmsUser


def _handset() -> str:
    return f"+3361{secrets.randbelow(10**7):07d}"


def _add_user(server: Server, service: str, login: str, **fields: object) -> tuple[int, int]:
    """``(account_id, user_id)`` of a new user of the account ``service``."""
    db = Database(server.database_url)
    try:
        with db.session() as s:
            account_id = s.scalar(select(Account.id).where(Account.service_name == service))
            user = SmsUser(account_id=account_id, login=login, password_hash=hash_password("abcd1234"), ip_restrictions=[], **fields)
            s.add(user)
            s.flush()
            return account_id, user.id
    finally:
        db.dispose()


def _send_as(server: Server, account_id: int, user_id: int | None, receivers: list[str], **fields: object) -> list[int]:
    """A job through the one accept path, as the user (``SendRequest.user_id``)."""
    db = Database(server.database_url)
    try:
        request = SendRequest(message=str(fields.pop("message", "Bonjour")), receivers=receivers, user_id=user_id, **fields)  # type: ignore[arg-type]
        return list(accept(db, account_id, request, Settings(), actor="test").ids)
    finally:
        db.dispose()


def _not_found(call, *args: object, **kw: object) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ovh.exceptions.ResourceNotFoundError) as caught:
        call(*args, **kw)
    body = caught.value.response.json()
    assert body["class"] == "Client::NotFound"
    return body["message"]


def test_a_users_outgoing_and_incoming_are_its_own(server, tenant):
    c, svc = tenant.client, tenant.service
    account_id, alice = _add_user(server, svc, "alice")
    _, bob = _add_user(server, svc, "bob")
    handset, other = _handset(), _handset()
    mine = _send_as(server, account_id, alice, [handset, other], no_stop_clause=True, tag="a", sender_for_response=True)
    bobs = _send_as(server, account_id, bob, [other], no_stop_clause=True, tag="a")
    tenant.wait_final(mine + bobs)
    base = f"/sms/{svc}/users"

    assert c.get(f"{base}/alice/outgoing") == mine
    assert c.get(f"{base}/alice/outgoing", receiver=handset) == mine[:1]
    assert c.get(f"{base}/alice/outgoing", tag="a", ptt=4, deliveryReceipt=1) == mine
    assert c.get(f"{base}/alice/outgoing", tag="b") == []
    assert c.get(f"{base}/bob/outgoing") == bobs
    one = c.get(f"{base}/alice/outgoing/{mine[0]}")
    assert one == c.get(f"/sms/{svc}/outgoing/{mine[0]}") and one["receiver"] == handset
    assert _not_found(c.get, f"{base}/alice/outgoing/{bobs[0]}") == f"id: outgoing SMS {bobs[0]} does not exist"
    assert _not_found(c.get, f"{base}/carol/outgoing") == "login: user carol does not exist"
    assert "HLR" in _not_found(c.get, f"{base}/alice/outgoing/{mine[0]}/hlr")
    assert _not_found(c.get, f"{base}/alice/outgoing/{bobs[0]}/hlr") == f"id: outgoing SMS {bobs[0]} does not exist"
    with pytest.raises(ovh.exceptions.BadParametersError, match="batchID"):  # not a filter of a user's outgoing
        c.get(f"{base}/alice/outgoing", batchID="0b2a7b6e-0000-4000-8000-000000000000")

    # a reply to alice's message is alice's incoming, not bob's
    result = server.runner.invoke(cli_app, ["mo", "--sender", handset, "--text", "Oui", "--reply-to-last",
                                            "--url", f"http://127.0.0.1:{server.port}"])
    assert result.exit_code == 0, result.output
    (reply,) = wait_until(lambda: c.get(f"{base}/alice/incoming"), what="the reply in the user's incoming")
    assert c.get(f"{base}/alice/incoming/{reply}") | {"creationDatetime": ""} == {
        "creationDatetime": "", "credits": 1.0, "id": reply, "message": "Oui", "sender": handset, "tag": "a",
    }
    assert c.get(f"{base}/alice/incoming", sender=handset, tag="a") == [reply]
    assert c.get(f"{base}/alice/incoming", tag="b") == [] and c.get(f"{base}/bob/incoming") == []
    assert _not_found(c.get, f"{base}/bob/incoming/{reply}") == f"id: incoming SMS {reply} does not exist"
    c.delete(f"{base}/alice/incoming/{reply}")
    assert c.get(f"{base}/alice/incoming") == [] and reply not in c.get(f"/sms/{svc}/incoming")

    c.delete(f"{base}/alice/outgoing/{mine[0]}")
    assert c.get(f"{base}/alice/outgoing") == mine[1:] and mine[0] not in c.get(f"/sms/{svc}/outgoing")
    _not_found(c.delete, f"{base}/bob/outgoing/{mine[1]}")

    stranger = server.tenant()  # another customer's key sees nothing of them
    _not_found(stranger.client.get, f"{base}/alice/outgoing")


class _Documents(http.server.ThreadingHTTPServer):
    routes: dict[str, bytes]


class _Serve(http.server.BaseHTTPRequestHandler):
    server: _Documents

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = self.server.routes.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def documents() -> Iterator[tuple[_Documents, str]]:
    srv = _Documents(("127.0.0.1", 0), _Serve)
    srv.routes = {}
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv, f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_user_has_receiver_slots_of_its_own(server, tenant, documents):
    srv, url = documents
    srv.routes["/u.csv"] = b"number;prenom\n+33612345621;Ana\nbad;Bob\n+33612345621;Ana again\n+33612345622;Cy\n"
    c, svc = tenant.client, tenant.service
    _add_user(server, svc, "alice")
    _add_user(server, svc, "bob")
    users = f"/sms/{svc}/users"
    c.post(f"/sms/{svc}/receivers", csvUrl=url + "/u.csv", description="the account's", slotId=3, autoUpdate=False)
    slot = c.post(f"{users}/alice/receivers", csvUrl=url + "/u.csv", description="alice's", slotId=3, autoUpdate=False)
    assert (slot["slotId"], slot["records"], slot["description"], slot["canAutoUpdate"]) == (3, 4, "alice's", True)
    assert c.get(f"{users}/alice/receivers") == [3] and c.get(f"{users}/bob/receivers") == []
    with pytest.raises(ovh.exceptions.ResourceConflictError):
        c.post(f"{users}/alice/receivers", csvUrl=url + "/u.csv", description="again", slotId=3, autoUpdate=False)
    with pytest.raises(ovh.exceptions.BadParametersError, match="slotId"):
        c.post(f"{users}/alice/receivers", csvUrl=url + "/u.csv", description="x", slotId=12, autoUpdate=False)
    c.put(f"{users}/alice/receivers/3", description="alice's best")
    assert c.get(f"{users}/alice/receivers/3")["description"] == "alice's best"
    assert c.get(f"/sms/{svc}/receivers/3")["description"] == "the account's"
    assert "Cy" in c.get(f"{users}/alice/receivers/3/csv")
    _not_found(c.get, f"{users}/bob/receivers/3")

    cleaned = c.post(f"{users}/alice/receivers/3/clean", freemium=True, priceOnly=False)
    assert cleaned["textosCleanReport"] == {"records": 2, "invalidReceivers": 1, "duplicates": 1, "blacklisted": 0, "applied": True}
    assert c.get(f"{users}/alice/receivers/3")["records"] == 2 and c.get(f"/sms/{svc}/receivers/3")["records"] == 4
    assert c.get(f"/sms/{svc}/task/{cleaned['taskId']}")["status"] == "done"

    c.delete(f"{users}/alice/receivers/3")
    assert c.get(f"{users}/alice/receivers") == [] and c.get(f"/sms/{svc}/receivers") == [3]
    _not_found(c.get, f"{users}/alice/receivers/3/csv")


def test_a_users_callbacks_hear_its_deliveries_and_its_stops(server, tenant):
    c, svc = tenant.client, tenant.service
    with CallbackSink() as sink:
        c.put(f"/sms/{svc}", callBack=sink.url("/account-dlr"), stopCallBack=sink.url("/account-stop"))
        account_id, alice = _add_user(server, svc, "alice", callback=sink.url("/alice-dlr?k=1"), stop_callback=sink.url("/alice-stop"))
        _, bob = _add_user(server, svc, "bob")  # no callBack of its own: the account's hears of its messages
        [a] = _send_as(server, account_id, alice, [_handset()], no_stop_clause=True)
        [b] = _send_as(server, account_id, bob, [_handset()], no_stop_clause=True)
        tenant.wait_final([a, b])
        told = sink.wait_for(2, path="/alice-dlr")
        assert [(r.query["id"], r.query["ptt"], r.query["k"]) for r in told] == [(str(a), "3", "1"), (str(a), "4", "1")]
        account_told = sink.wait_for(2, path="/account-dlr")
        assert {r.query["id"] for r in account_told} == {str(b)}  # never alice's: hers replaces it

        # a handset scripted to answer STOP (+336993…) stops alice's commercial message
        stopping = f"+336993{secrets.randbelow(10**5):05d}"
        [promo] = _send_as(server, account_id, alice, [stopping], message="Soldes -50%", tag="winter")
        (alice_stop,) = sink.wait_for(1, path="/alice-stop")
        (account_stop,) = sink.wait_for(1, path="/account-stop")
        assert alice_stop.query == account_stop.query
        assert (alice_stop.query["number"], alice_stop.query["smsOutgoingID"], alice_stop.query["tag"]) == (stopping, str(promo), "winter")
        assert {r.query["id"] for r in sink.wait_for(4, path="/alice-dlr")} == {str(a), str(promo)}  # the promo's deliveries: alice's
        assert not [r for r in sink.requests if r.path == "/account-dlr" and r.query["id"] == str(promo)]
