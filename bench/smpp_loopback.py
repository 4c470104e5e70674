"""Loopback benchmark: SmppConnector → SmscSimulator → receipts, in one or two processes.

    python bench/smpp_loopback.py [-n 50000] [--window 64] [--binds 1] [--batch 2000] [--two-processes]

Prints submits/s (all submit_sm answered) and end-to-end receipts/s (all receipts
handed to ``on_receipts``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textos.delivery.connector import OutboundMessage, SubmitOutcome  # noqa: E402
from textos.delivery.connectors.smpp import SmppConnector  # noqa: E402
from textos.domain.encoding import Encoding  # noqa: E402
from textos.simulator.smsc import SmscSimulator  # noqa: E402
from textos.smpp.carrier_config import SmppCarrierConfig  # noqa: E402


class Counter:
    def __init__(self, n: int) -> None:
        self.n = n
        self.receipts = 0
        self.calls = 0
        self.done = asyncio.Event()

    async def on_receipts(self, receipts) -> None:
        self.receipts += len(receipts)
        self.calls += 1
        if self.receipts >= self.n:
            self.done.set()

    async def on_incoming(self, message) -> None:
        pass


def run_smsc(port_queue, receipt_delay: float) -> None:
    async def main() -> None:
        smsc = SmscSimulator(port=0, receipt_delay=receipt_delay, record_last=10)
        await smsc.start()
        port_queue.put(smsc.port)
        await asyncio.Event().wait()

    asyncio.run(main())


async def bench(args, port: int | None) -> None:
    smsc = None
    if port is None:
        smsc = SmscSimulator(port=0, receipt_delay=args.receipt_delay, record_last=10)
        await smsc.start()
        port = smsc.port
    cfg = SmppCarrierConfig(port=port, system_id="bench", password="x", window=args.window, binds=args.binds)
    counter = Counter(args.n)
    conn = SmppConnector(cfg)
    await conn.start(counter)
    await conn.wait_up()
    messages = [
        OutboundMessage(i, "Textos", "alpha", f"+3361{i:08d}", f"Hello number {i}", Encoding.GSM7, 1)
        for i in range(args.n)
    ]
    t0 = time.perf_counter()
    batches = [messages[i : i + args.batch] for i in range(0, args.n, args.batch)]
    results = await asyncio.gather(*(conn.submit(b) for b in batches))
    t_submit = time.perf_counter() - t0
    accepted = sum(r.outcome is SubmitOutcome.ACCEPTED for rs in results for r in rs)
    await asyncio.wait_for(counter.done.wait(), 120)
    t_all = time.perf_counter() - t0
    print(f"messages            {args.n} (accepted {accepted}), window {args.window}, binds {args.binds}, "
          f"{'two processes' if smsc is None else 'one process'}")
    print(f"submits/s           {args.n / t_submit:,.0f}  ({t_submit:.2f} s)")
    print(f"submit+receipt/s    {args.n / t_all:,.0f}  ({t_all:.2f} s; {counter.calls} on_receipts calls)")
    await conn.close()
    if smsc:
        await smsc.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=50_000)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--binds", type=int, default=1)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--receipt-delay", type=float, default=0.0)
    ap.add_argument("--two-processes", action="store_true")
    args = ap.parse_args()
    port = None
    proc = None
    if args.two_processes:
        q = multiprocessing.Queue()
        proc = multiprocessing.Process(target=run_smsc, args=(q, args.receipt_delay), daemon=True)
        proc.start()
        port = q.get(timeout=10)
    try:
        asyncio.run(bench(args, port))
    finally:
        if proc:
            proc.terminate()


if __name__ == "__main__":
    main()
