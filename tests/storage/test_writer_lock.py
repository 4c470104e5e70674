"""SQLite's writers take turns on Textos's own lock: among threads, among processes, after a fork."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from sqlalchemy import text

from helpers import wait_until
from textos.storage.db import Database, WriterBusy
from textos.storage.writer_lock import WriterLock

_TRY = "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\ntry:\n fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n sys.exit(1)"


def another_process_could_write(path: str) -> bool:
    """Whether another process could take the turn now (it tries without waiting)."""
    return subprocess.run([sys.executable, "-c", _TRY, path], timeout=30).returncode == 0


def test_the_turn_is_held_across_processes_until_the_outermost_release(tmp_path):
    lock = WriterLock(str(tmp_path / "db-writer"))
    assert another_process_could_write(lock.path)
    lock.acquire()
    lock.acquire()  # a transaction inside another, in the same thread
    assert not another_process_could_write(lock.path)
    lock.release()
    assert not another_process_could_write(lock.path), "the inner release keeps the turn"
    lock.release()
    assert another_process_could_write(lock.path)
    lock.close()


def test_a_thread_waits_for_the_turn_and_takes_it_when_released(tmp_path):
    lock = WriterLock(str(tmp_path / "db-writer"))
    order: list[str] = []
    tried: list[bool] = []
    attempted = threading.Event()
    lock.acquire()

    def other() -> None:
        tried.append(lock.acquire(blocking=False))
        attempted.set()
        lock.acquire()
        order.append("other")
        lock.release()

    thread = threading.Thread(target=other)
    thread.start()
    assert attempted.wait(10)
    order.append("first")
    lock.release()
    thread.join(10)
    assert tried == [False]
    assert order == ["first", "other"]
    lock.close()


def test_a_forked_child_waits_for_its_parents_turn(tmp_path):
    """The child does not write under its parent's turn (an inherited open file would share the lock)."""
    lock = WriterLock(str(tmp_path / "db-writer"))
    lock.acquire()
    pid = os.fork()
    if pid == 0:  # the child: 0 if it could not take the turn at once, then took it once the parent let go
        code = 1
        try:
            if not lock.acquire(blocking=False):
                lock.acquire()
                code = 0
        finally:
            os._exit(code)
    try:
        assert not another_process_could_write(lock.path)
        lock.release()
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    lock.close()


def test_a_write_transaction_of_another_process_makes_a_non_waiting_one_busy_then_lets_it_in(make_database, tmp_path):
    url = make_database("sqlite")
    db = Database(url)
    db.migrate()
    done = tmp_path / "release"
    holding = tmp_path / "holding"
    code = (
        "import pathlib, sys, time\n"
        "from sqlalchemy import text\n"
        "from textos.storage.db import Database\n"
        f"db = Database({url!r})\n"
        "with db.session() as s:\n"
        "    s.execute(text(\"INSERT INTO customers (nic, password_hash, name, email, created_at) VALUES ('other-process', '', '', '', CURRENT_TIMESTAMP)\"))\n"
        f"    pathlib.Path({str(holding)!r}).touch()\n"
        f"    while not pathlib.Path({str(done)!r}).exists():\n"
        "        time.sleep(0.01)\n"
        "db.dispose()\n"
    )
    other = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_until(holding.exists, timeout=30, what="the other process writing")
        try:
            with db.session(wait=False):
                raise AssertionError("written while another process held the turn")
        except WriterBusy:
            pass
        done.touch()
        with db.session() as s:  # waits for the other's commit, then sees it
            assert s.execute(text("SELECT COUNT(*) FROM customers WHERE nic = 'other-process'")).scalar_one() == 1
    finally:
        done.touch()
        other.wait(30)
        db.dispose()
    assert other.returncode == 0
