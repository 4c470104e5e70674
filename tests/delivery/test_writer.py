"""The dispatcher's writes (``delivery.writer``): a batch's submit results, whatever their outcome."""

from __future__ import annotations

import asyncio

import pytest

from lifecycle_helpers import credits, new_account, send, statuses
from textos.delivery.connector import OutboundMessage, SubmitOutcome, SubmitResult
from textos.delivery.writer import Writer, store_results
from textos.storage.messages import claim_due


@pytest.fixture
def account(db):
    return new_account(db)


def test_a_batch_of_results_is_stored_by_outcome(db, account):
    sent, refused, later = send(db, account, ["+33612345601", "+33612345602", "+33612345603"])
    with db.session() as s:
        claim_due(s, 10, OutboundMessage)
        store_results(s, [
            SubmitResult(sent, SubmitOutcome.ACCEPTED, part_ids=("a1",)),
            SubmitResult(refused, SubmitOutcome.REJECTED, error="0x0000000B"),
            SubmitResult(later, SubmitOutcome.RETRY, error="throttled", retry_after=30),
        ], {sent: "sim"}, {sent: 1, refused: 1, later: 1})
    assert statuses(db, [sent, refused, later]) == ["sent", "rejected", "queued"]
    assert credits(db, account) == 98  # the rejected one refunded


def test_results_handed_to_the_writer_together_commit_together(db, account):
    ids = send(db, account, [f"+336123456{i:02d}" for i in range(4)])
    with db.session() as s:
        claim_due(s, 10, OutboundMessage)
    commits: list[list[int]] = []
    db.changes.subscribe(commits.append)

    async def main() -> None:
        writer = Writer(db)
        try:
            await asyncio.gather(*(
                writer.store([SubmitResult(i, SubmitOutcome.ACCEPTED, part_ids=(f"w{i}",))], {i: "sim"}, {i: 1}) for i in ids
            ))
        finally:
            writer.close()

    asyncio.run(main())
    assert statuses(db, ids) == ["sent"] * 4
    assert commits == [ids]  # one transaction, told once
