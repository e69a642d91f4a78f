"""Deadlines on articles: one runs for each position an article waits in, closed when it moves on.

Where the rules come from: a review step's own `deadline` (workflow.steps), otherwise the agency's
`deadlines` table under the position's name: `unit_review`, `director_review`, `publication`
(after final approval), `author_details`, `author_original` and `author_revision` (waiting for the author).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.articles import workflow
from mailbot.config import Agency
from mailbot.storage.models import Article, Deadline, Question

_POSITION_RULES = {
    workflow.UNIT_REVIEW: "unit_review",
    workflow.DIRECTOR_REVIEW: "director_review",
    workflow.APPROVED: "publication",
    workflow.AWAITING_DETAILS: "author_details",
    workflow.AWAITING_ORIGINAL: "author_original",
    workflow.AWAITING_REVISION: "author_revision",
}


def rule_for(agency: Agency, position: str) -> tuple[str, dict] | None:
    status, _, step_name = position.partition(":")
    if status == workflow.REVIEW:
        step = agency.workflow.step(step_name)
        if step and step.deadline:
            return f"workflow.steps.{step_name}.deadline", step.deadline
        name = f"step_{step_name}"
    else:
        name = _POSITION_RULES.get(status, "")
    rule = agency.deadlines.get(name)
    return (name, rule) if isinstance(rule, dict) else None


def sync(s: Session, agency: Agency, article: Article, now: datetime, left_at: datetime | None = None) -> None:
    """Close the deadlines the article has left; open one for where it waits now, starting at `now`. Safe to call
    twice. `left_at` is when the article left its old position (the arrival of the mail that moved it, which may
    be before mailbot read it); never before that deadline started."""
    position = workflow.position(article)
    open_rows = s.scalars(select(Deadline).where(Deadline.article_id == article.id, Deadline.closed_at.is_(None)))
    current = None
    for row in open_rows:
        if row.position == position:
            current = row
            continue
        closed = max(left_at or now, row.start_at)
        row.closed_at = closed
        row.outcome = "met" if closed <= row.due_at else "missed"
    if current is not None:
        return
    found = rule_for(agency, position)
    if found is None:
        return
    name, rule = found
    deadline = agency.calendar.deadline(rule, now)
    s.add(Deadline(agency=agency.slug, article_id=article.id, position=position, rule_name=name, rule=dict(rule),
                   start_at=now, due_at=deadline.due, explanation=deadline.explain()))
    s.flush()


def recompute_open(s: Session, agency: Agency) -> int:
    """After the calendar or the rules changed: every open deadline counted again. Returns how many moved."""
    moved = 0
    for row in s.scalars(select(Deadline).where(Deadline.agency == agency.slug, Deadline.closed_at.is_(None))):
        # An article's rule follows its position; a question's is the one it was opened under.
        found = rule_for(agency, row.position) if row.article_id else (
            (row.rule_name, agency.deadlines[row.rule_name]) if isinstance(agency.deadlines.get(row.rule_name), dict)
            else None)
        if found is None:
            continue
        name, rule = found
        deadline = agency.calendar.deadline(rule, row.start_at)
        if deadline.due != row.due_at or rule != row.rule:
            row.rule_name, row.rule, row.due_at, row.explanation = name, dict(rule), deadline.due, deadline.explain()
            if row.question_id:
                s.get_one(Question, row.question_id).due_at = deadline.due
            moved += 1
    return moved
