"""The request-body limit (``max_body_bytes``): a larger body gets a 413 in OVH's shape while it
arrives, before the routes read it and before any signature work.

A ``Content-Length`` over the limit is refused at once, without reading a byte of the body.
A body without one (``Transfer-Encoding: chunked``) is counted as it arrives: when it goes
over, the 413 is sent there and then, the route sees a client that went away, and whatever
it answers is dropped. At most the limit plus one received chunk is ever held. The 413 says
``Connection: close``, so the server stops reading the rest.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textos.api.errors import error_response


def _declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` header's value; None when there is none (a chunked body)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413 ``Client::RequestEntityTooLarge``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def refusal(self) -> ASGIApp:
        answer = error_response(
            413, "Client::RequestEntityTooLarge",
            f"Request body too large: at most {self.max_bytes} bytes are accepted (max_body_bytes)",
        )
        answer.headers["connection"] = "close"
        return answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None:
            # The HTTP server holds the body to its declared length: nothing to count.
            if declared > self.max_bytes:
                await self.refusal()(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        received = 0
        refused = started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self.refusal()(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            nonlocal started
            if not refused:
                started = True
                await send(message)

        await self.app(scope, counted_receive, send_unless_refused)
