"""submit_sm bodies: every field an outgoing SMS sets, per carrier options, and the
per-campaign template giving the same bytes as a full build."""

from __future__ import annotations

import datetime as dt

from carrier_doubles import sms
from textos.domain.encoding import Concatenation
from textos.smpp import pdu as P
from textos.smpp.carrier_config import SmppCarrierConfig
from textos.smpp.submit_sm import SubmitSmBuilder


def decoded(body: bytes) -> P.ShortMessage:
    pdu = P.decode_body(P.CommandId.SUBMIT_SM, 0, 1, body)
    assert isinstance(pdu, P.ShortMessage)
    return pdu


def test_message_fields_on_the_wire():
    until = dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
    build = SubmitSmBuilder(SmppCarrierConfig(service_type="CMT"))
    [flash] = build.bodies(sms(1, "flash!", message_class="flash", priority="high", validity_until=until, want_receipt=False))
    a = decoded(flash)
    assert (a.service_type, a.source_addr, a.destination_addr, a.short_message) == ("CMT", "Textos", "33611223344", b"flash!")
    assert (a.data_coding, a.priority_flag, a.validity_period, a.registered_delivery) == (0xF0, 3, "310203040506000+", 0)
    [numeric] = build.bodies(sms(2, "numeric", sender="+33612345678", sender_type="numeric", priority="veryLow"))
    b = decoded(numeric)
    assert (b.source_addr, b.source_addr_ton, b.source_addr_npi, b.priority_flag, b.registered_delivery) == ("33612345678", 1, 1, 0, 1)


def test_ton_npi_by_kind_of_sender_and_receipts_off():
    build = SubmitSmBuilder(SmppCarrierConfig(source_ton_npi={"alpha": (5, 9)}, dest_ton_npi=(2, 1), registered_delivery=False))
    alpha = decoded(build.bodies(sms(1, "a"))[0])
    assert ((alpha.source_addr_ton, alpha.source_addr_npi), (alpha.dest_addr_ton, alpha.dest_addr_npi)) == ((5, 9), (2, 1))
    unlisted = decoded(build.bodies(sms(2, "b", sender="+33611111111", sender_type="virtual"))[0])
    assert (unlisted.source_addr_ton, unlisted.source_addr_npi) == (1, 1)  # a '+' number, kind not configured
    assert alpha.registered_delivery == unlisted.registered_delivery == 0


def test_the_template_gives_the_bytes_of_a_full_build():
    build = SubmitSmBuilder(SmppCarrierConfig())
    first = build.bodies(sms(1, "Campaign", "+33611111111"))
    again = build.bodies(sms(2, "Campaign", "+447400123456"))  # from the template
    fresh = SubmitSmBuilder(SmppCarrierConfig()).bodies(sms(2, "Campaign", "+447400123456"))
    assert again == fresh and first != again
    assert decoded(again[0]).destination_addr == "447400123456"


def test_long_messages_take_a_new_reference_each():
    build = SubmitSmBuilder(SmppCarrierConfig(concatenation=Concatenation.UDH16))
    one, two = build.bodies(sms(1, "x" * 306)), build.bodies(sms(2, "x" * 306))
    assert len(one) == len(two) == 3
    refs = {decoded(b).short_message[3:5] for b in one}, {decoded(b).short_message[3:5] for b in two}
    assert len(refs[0]) == len(refs[1]) == 1 and refs[0] != refs[1]
