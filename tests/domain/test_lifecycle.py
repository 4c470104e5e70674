"""The lifecycle vocabulary (``domain.lifecycle``): what each carrier report makes of a
message, in OVH's codes, and the codes of each status."""

from __future__ import annotations

import pytest

from textos.domain.lifecycle import (
    AWAITING_RECEIPT,
    FAILED_STATUSES,
    FINAL,
    IN_FLIGHT,
    PENDING,
    REFUNDED,
    DeliveryState,
    MessageStatus,
    codes_of,
    outcome_of,
)
from textos.domain.ptt import DLR_DESCRIPTIONS, PTT

D, S = DeliveryState, MessageStatus

REPORTS = {
    # reported state → (status, ptt, deliveryReceipt)
    D.DELIVERED: (S.DELIVERED, 4, 1),
    D.UNDELIVERABLE: (S.FAILED, 5, 2),
    D.EXPIRED: (S.FAILED, 8, 2),
    D.DELETED: (S.FAILED, 5, 2),
    D.REJECTED: (S.FAILED, 23, 2),
    D.UNKNOWN: (S.FAILED, 6, 2),
    D.ACCEPTED: (S.SENT, 3, 4),
    D.ENROUTE: (S.SENT, 2, 8),
}

STATUSES = {
    # status → (ptt, deliveryReceipt) when no report says more
    S.QUEUED: (0, 0),
    S.SUBMITTING: (0, 0),
    S.SENT: (3, 4),
    S.DELIVERED: (4, 1),
    S.FAILED: (5, 2),
    S.REJECTED: (20, 16),
    S.EXPIRED: (8, 16),
    S.CANCELLED: (0, 16),
    S.NO_RECEIPT: (6, 2),  # "cannot determine delivered or failed", as a carrier's own UNKNOWN report
    S.BLACKLISTED: (23, 16),  # "blacklisted MSISDN", not billed
}


def test_the_tables_name_every_state_and_status():
    assert set(REPORTS) == set(DeliveryState)
    assert set(STATUSES) == set(MessageStatus)


@pytest.mark.parametrize("state", list(DeliveryState))
def test_a_reported_state_gives_the_message_its_status_and_codes(state):
    assert outcome_of(state) == REPORTS[state]
    assert outcome_of(state.value) == REPORTS[state]  # as stored in message_parts


@pytest.mark.parametrize("state", list(DeliveryState))
def test_a_final_report_settles_the_message_for_good(state):
    status = outcome_of(state)[0]
    assert state.is_final == status.is_final
    assert status not in REFUNDED  # what was sent stays charged


def test_a_word_the_domain_does_not_know_reads_as_unknown():
    assert outcome_of("DELIVRD") == REPORTS[D.UNKNOWN]


@pytest.mark.parametrize("status", list(MessageStatus))
def test_each_status_has_its_codes(status):
    assert codes_of(status) == codes_of(status.value) == STATUSES[status]


def test_every_code_given_is_one_ovh_documents():
    for ptt, dlr in [*STATUSES.values(), *(codes for _, *codes in REPORTS.values())]:
        assert ptt in PTT and dlr in DLR_DESCRIPTIONS


def test_the_status_sets():
    assert PENDING == {S.QUEUED, S.SUBMITTING} and all(s.is_pending for s in PENDING)
    assert IN_FLIGHT == {S.SUBMITTING, S.SENT}
    assert FINAL == set(MessageStatus) - PENDING - {S.SENT} and all(s.is_final for s in FINAL)
    assert REFUNDED == {S.REJECTED, S.EXPIRED, S.CANCELLED} <= FINAL


def test_no_receipt_is_final_and_charged_and_a_late_final_receipt_still_settles_it():
    assert S.NO_RECEIPT.is_final and S.NO_RECEIPT not in REFUNDED
    assert S.NO_RECEIPT in FAILED_STATUSES  # batch statistics have no "unknown"
    assert AWAITING_RECEIPT == IN_FLIGHT | {S.NO_RECEIPT}
    assert codes_of(S.NO_RECEIPT) == (6, 2) and PTT[6].duration == "indeterminated"


def test_blacklisted_is_final_at_once_never_charged_and_not_a_failure():
    assert S.BLACKLISTED.is_final and not S.BLACKLISTED.is_pending
    assert S.BLACKLISTED not in REFUNDED  # nothing to give back: it was never charged
    assert S.BLACKLISTED not in FAILED_STATUSES  # batch statistics count it as stoplisted
    assert PTT[23].duration == "permanent"
