"""``/cgi-bin/sms/http2sms.cgi`` (GET or POST): OVH's legacy sending URL, outside ``/1.0`` and unsigned.

Parameters come from the query string, and for a POST from its form body too (the body's win).
The answer is drawn in the asked ``contentType`` (``services.http2sms.Reply``), always with HTTP
200 as OVH's (the status is in the body), ``Retry-After`` beside a ``429``:

* ``text/plain`` (the default): ``OK\\n<creditLeft>\\n<smsId>…`` or ``KO\\n<reason>``;
* ``text/json``, ``application/json``: ``{"status":100,"creditLeft":"1987","SmsIds":["…"]}`` or
  ``{"status":201,"message":"Missing login"}``;
* ``text/xml``, ``application/xml``: ``<response><status>100</status><creditLeft>1987</creditLeft>
  <smsIds><smsId>…</smsId></smsIds></response>`` or ``<response><status>201</status><message>…</message></response>``;
* ``text/html``: an XHTML page with the text/plain lines.

An unknown ``contentType`` is answered ``202`` in text/plain. It is a Starlette route, not a
FastAPI one: it answers every refusal in its own format (not OVH's JSON errors) and is not part of
the ``/1.0`` OpenAPI document. The client address is ``request.client``: the peer, or the right-most
address of ``X-Forwarded-For`` not in ``trusted_proxies`` when the peer is (uvicorn, ``textos.server``).
"""

from __future__ import annotations

import html
import json
from xml.sax.saxutils import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from textos.api.state import state_of
from textos.services import http2sms
from textos.services.http2sms import Reply

PATH = "/cgi-bin/sms/http2sms.cgi"
FORMATS = {
    "text/plain": "plain", "text/json": "json", "application/json": "json",
    "text/xml": "xml", "application/xml": "xml", "text/html": "html",
}  # fmt: skip


def as_plain(reply: Reply) -> str:
    if reply.ok:
        return "\n".join(["OK", reply.credit_left, *reply.sms_ids])
    return f"KO\n{reply.message}"


def as_json(reply: Reply) -> str:
    if reply.ok:
        return json.dumps({"status": reply.status, "creditLeft": reply.credit_left, "SmsIds": reply.sms_ids})
    return json.dumps({"status": reply.status, "message": reply.message})


def as_xml(reply: Reply) -> str:
    if reply.ok:
        ids = "".join(f"<smsId>{escape(i)}</smsId>" for i in reply.sms_ids)
        inner = f"<creditLeft>{escape(reply.credit_left)}</creditLeft><smsIds>{ids}</smsIds>"
    else:
        inner = f"<message>{escape(reply.message)}</message>"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<response><status>{reply.status}</status>{inner}</response>'


def as_html(reply: Reply) -> str:
    lines = "<br />\n".join(html.escape(line) for line in as_plain(reply).split("\n"))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en"><head><title>http2sms</title></head>\n'
        f"<body><p>{lines}</p></body></html>"
    )


RENDER = {"plain": as_plain, "json": as_json, "xml": as_xml, "html": as_html}


def render(reply: Reply, content_type: str) -> Response:
    """``reply`` drawn as ``content_type`` asks (one of ``FORMATS``), with HTTP 200."""
    headers = {"Retry-After": str(reply.retry_after)} if reply.retry_after is not None else None
    return Response(RENDER[FORMATS[content_type]](reply), media_type=f"{content_type}; charset=utf-8", headers=headers)


async def endpoint(request: Request) -> Response:
    params = dict(request.query_params)
    if request.method == "POST":
        params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
    content_type = params.get("contentType", "").strip() or "text/plain"
    if content_type not in FORMATS:
        return render(Reply(http2sms.INVALID, f"Invalid contentType: one of {', '.join(FORMATS)}"), "text/plain")
    st = state_of(request)
    address = request.client.host if request.client else None
    reply = await run_in_threadpool(http2sms.send, st.db, st.password_guard, st.settings, params, address, concat_for=st.concat_for)
    if reply.ok:
        st.wake()
    return render(reply, content_type)


route = Route(PATH, endpoint, methods=["GET", "POST"])
