"""http2sms answers (api/http2sms.py) in each contentType, as OVH's guide writes them; text in them
is escaped."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from textos.api.http2sms import as_html, as_json, as_plain, as_xml, render
from textos.services.http2sms import Reply

SENT = Reply(100, credit_left="1987", sms_ids=["10867690", "10867691"])
MISSING = Reply(201, "Missing login")
XHTML = "{http://www.w3.org/1999/xhtml}"


def test_text_plain():
    assert as_plain(SENT) == "OK\n1987\n10867690\n10867691"
    assert as_plain(MISSING) == "KO\nMissing login"


def test_json():
    assert json.loads(as_json(SENT)) == {"status": 100, "creditLeft": "1987", "SmsIds": ["10867690", "10867691"]}
    assert json.loads(as_json(MISSING)) == {"status": 201, "message": "Missing login"}


def test_xml():
    root = ET.fromstring(as_xml(SENT))
    assert [(e.tag, e.text) for e in root] == [("status", "100"), ("creditLeft", "1987"), ("smsIds", None)]
    assert [e.text for e in root.find("smsIds")] == ["10867690", "10867691"]
    refused = ET.fromstring(as_xml(Reply(202, "Invalid tag: <&>")))
    assert [(e.tag, e.text) for e in refused] == [("status", "202"), ("message", "Invalid tag: <&>")]


def test_xhtml_page_has_the_text_lines():
    page = ET.fromstring(as_html(Reply(401, "IP not allowed: <script>")))
    paragraph = page.find(f"{XHTML}body/{XHTML}p")
    assert [line.strip() for line in "".join(paragraph.itertext()).split("\n")] == ["KO", "IP not allowed: <script>"]


def test_the_media_type_is_the_one_asked_and_a_lockout_says_when_to_retry():
    answer = render(Reply(429, "Too many failed logins: retry in 60 seconds", retry_after=60), "text/json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/json; charset=utf-8"
    assert answer.headers["retry-after"] == "60"
