"""Operations on an SMS account, followed as ``sms.Task`` (``GET /sms/{serviceName}/task``).

The one operation OVH runs as a task is cleaning a slot's receivers
(``cleanSmsReceivers``, ``POST /receivers/{slotId}/clean``). Textos cleans with
syntactic checks only, at once: its task is recorded already ``done`` (step
``finishing``), with what the clean found, so ``taskId`` names something real.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from textos.domain.clock import utcnow
from textos.domain.errors import BadRequest, NotFound
from textos.storage.models_bulk import SmsTask


class TaskStatus(str, Enum):
    """``telephony.TaskStatusEnum``."""

    DOING = "doing"
    DONE = "done"
    ERROR = "error"
    PAUSE = "pause"
    TODO = "todo"


CLEAN_RECEIVERS = "cleanSmsReceivers"
"""``sms.TodoGeneralPublicFunctionsEnum``."""
FINISHING = "finishing"
"""``sms.TodoGeneralPublicStepsEnum``: the step of a task that has ended."""


def record_done(session: Session, account_id: int, function: str, report: dict[str, Any]) -> SmsTask:
    """A task that was carried out at once: ``done``, with its report."""
    now = utcnow()
    task = SmsTask(account_id=account_id, function=function, status=TaskStatus.DONE.value, step=FINISHING,
                   report=report, created_at=now, updated_at=now)
    session.add(task)
    session.flush()
    return task


def parse_status(value: str | None) -> TaskStatus | None:
    """The ``status`` filter of ``GET /task``: a ``telephony.TaskStatusEnum`` value, or none."""
    if value is None:
        return None
    try:
        return TaskStatus(value)
    except ValueError:
        raise BadRequest(f"status: {value!r} is not one of {', '.join(s.value for s in TaskStatus)}") from None


def task_ids(session: Session, account_id: int, status: TaskStatus | None = None) -> list[int]:
    """The account's task ids, oldest first (of ``status`` when given)."""
    stmt = select(SmsTask.id).where(SmsTask.account_id == account_id).order_by(SmsTask.id)
    if status is not None:
        stmt = stmt.where(SmsTask.status == status.value)
    return list(session.scalars(stmt))


def get_task(session: Session, account_id: int, task_id: int) -> SmsTask:
    task = session.scalar(select(SmsTask).where(SmsTask.id == task_id, SmsTask.account_id == account_id))
    if task is None:
        raise NotFound(f"taskId: task {task_id} does not exist")
    return task


def task_view(task: SmsTask) -> dict[str, Any]:
    """``sms.Task``."""
    return {"function": task.function, "status": task.status, "step": task.step, "taskId": task.id}
