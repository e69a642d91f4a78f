"""What an article and a question share: one transition machine that changes a case's status and writes
the audit event, in one place. Each kind gives it its table and says which status keeps a step beside it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from mailbot.storage.models import Event


class Case(Protocol):
    """What the machine needs of an article or a question."""

    @property
    def id(self) -> int | None: ...   # None until the first transition files it
    @property
    def agency(self) -> str: ...
    status: str
    step: str
    updated_at: datetime


class TransitionError(Exception):
    pass


@dataclass(frozen=True)
class Machine:
    kind: str                                            # "article" | "question"
    transitions: Mapping[tuple[str | None, str], str]    # (status, event) -> next status; None: not yet filed
    stepped: str                                         # the status whose step is kept beside it
    owner: str                                           # the Event column that names the case

    def position(self, case: Case) -> str:
        """Status and step together, as the audit trail records them ("review:verify")."""
        return f"{case.status}:{case.step}" if case.status == self.stepped and case.step else case.status

    def can(self, case: Case | None, event: str) -> bool:
        current = None if case is None or case.id is None else case.status
        return (current, event) in self.transitions

    def apply(self, s: Session, case: Case, event: str, *, actor: str, now: datetime, inbound_id: int | None = None,
              detail: str = "", step: str | None = None) -> str:
        """Move `case` along `event` (to step `step` where it enters the stepped status); write the audit event."""
        current = None if case.id is None else case.status
        if (current, event) not in self.transitions:
            raise TransitionError(f"no {self.kind} transition from {current!r} on {event!r}")
        before = self.position(case) if current else ""
        case.status = self.transitions[(current, event)]
        case.step = (step or case.step) if case.status == self.stepped else ""
        case.updated_at = now
        s.add(case)
        s.flush()  # a new case needs its id for the event
        self._event(s, case, event, actor, now, inbound_id, detail, before, self.position(case))
        return case.status

    def restore(self, s: Session, case: Case, back_to: str, *, actor: str, now: datetime,
                inbound_id: int | None = None, detail: str = "") -> None:
        """UNDO: put a case back where an audit event found it; only across a transition the table has."""
        status, _, step = back_to.partition(":")
        if not any(src == status and dst == case.status for (src, _), dst in self.transitions.items()):
            raise TransitionError(f"cannot take a {self.kind} back from {case.status!r} to {status!r}")
        before = self.position(case)
        case.status, case.step, case.updated_at = status, step, now
        self._event(s, case, "undone", actor, now, inbound_id, detail, before, back_to)
        s.flush()

    def note(self, s: Session, case: Case, kind: str, *, actor: str, now: datetime, inbound_id: int | None = None,
             detail: str = "") -> None:
        """An audit event that changes no status (a file added, a refused command ...)."""
        here = self.position(case)
        self._event(s, case, kind, actor, now, inbound_id, detail, here, here)

    def _event(self, s: Session, case: Case, kind: str, actor: str, now: datetime, inbound_id: int | None,
               detail: str, before: str, after: str) -> None:
        s.add(Event(agency=case.agency, inbound_id=inbound_id, at=now, actor=actor, kind=kind, from_status=before,
                    to_status=after, detail=detail, **{self.owner: case.id}))
