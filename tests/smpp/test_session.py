"""One SMPP connection (``textos.smpp.session``) against a peer written byte by byte over
loopback: what a faulty peer's PDUs cost it (no more than the one request they concern)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from textos.smpp import pdu as P
from textos.smpp.session import TIMEOUT, Session

pytestmark = pytest.mark.timeout(30)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 10))


async def peer_and_session(on_request: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Session, asyncio.AbstractServer]:
    """A ``Session`` serving on a loopback port, and a raw connection to it."""
    sessions: list[Session] = []

    def new() -> Session:
        sessions.append(Session(on_request, response_timeout=0.3, name="under-test"))
        return sessions[-1]

    server = await asyncio.get_running_loop().create_server(new, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    while not sessions:
        await asyncio.sleep(0.01)
    return reader, writer, sessions[0], server


async def read_pdu(reader: asyncio.StreamReader) -> P.Pdu:
    header = await reader.readexactly(16)
    length = P.HEADER.unpack(header)[0]
    return P.decode(header + await reader.readexactly(length - 16))


def test_an_answer_of_another_command_is_no_answer():
    """An enquire_link_resp carrying a deliver_sm's sequence number is ignored; the right answer
    that follows is taken; a request answered only wrongly times out (its fate is unknown)."""

    async def main() -> None:
        reader, writer, session, server = await peer_and_session(lambda s, pdu: None)
        got: list[tuple[int, Any]] = []
        for _ in range(2):
            session.request_body(P.CommandId.DELIVER_SM, P.short_message_body(P.ShortMessage(P.CommandId.DELIVER_SM)),
                                 lambda status, resp: got.append((status, resp)))
        first, second = await read_pdu(reader), await read_pdu(reader)
        for request in (first, second):
            writer.write(P.encode(P.Empty(P.CommandId.ENQUIRE_LINK_RESP, 0, request.sequence)))
        writer.write(P.encode(P.MessageResp(P.CommandId.DELIVER_SM_RESP, 0, first.sequence)))
        await writer.drain()
        while len(got) < 2:
            await asyncio.sleep(0.01)
        (status, resp), (late, none) = got
        assert (status, type(resp), resp.sequence) == (0, P.MessageResp, first.sequence)
        assert (late, none) == (TIMEOUT, None)
        assert session.is_open
        writer.close()
        server.close()

    run(main())


def test_a_request_its_handler_cannot_handle_is_answered_system_error_and_the_connection_stays():
    def handler(session: Session, pdu: P.Pdu) -> None:
        raise RuntimeError("a bug in the handler")

    async def main() -> None:
        reader, writer, session, server = await peer_and_session(handler)
        writer.write(P.encode(P.ShortMessage(P.CommandId.DELIVER_SM, sequence=7, short_message=b"hi")))
        answer = await read_pdu(reader)
        assert (answer.command_id, answer.status, answer.sequence) == (P.CommandId.DELIVER_SM_RESP, P.Status.ESME_RSYSERR, 7)
        writer.write(P.encode(P.Empty(P.CommandId.ENQUIRE_LINK, 0, 8)))
        answer = await read_pdu(reader)
        assert (answer.command_id, answer.sequence) == (P.CommandId.ENQUIRE_LINK_RESP, 8) and session.is_open
        writer.close()
        server.close()

    run(main())
