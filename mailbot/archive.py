"""`mailbot archive export`: each article and question of a period with its files, messages in and out and
history, and a manifest of every file with its SHA-256, for the state archive (000 art. 14; 004 art. 10.4
keeps published information permanently). Quarantined files are listed by hash, never copied out."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import views
from mailbot.storage.blobs import BlobStore
from mailbot.storage.models import Article, Attachment, InboundMessage, OutboxMessage, Question
from mailbot.worktime.calendar import TZ


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """"2026" or "2026-11": its start and end, Vietnam time, as UTC."""
    parts = period.split("-")
    if not (1 <= len(parts) <= 2 and all(p.isdigit() for p in parts)) or len(parts[0]) != 4:
        raise ValueError(f"a period is YYYY or YYYY-MM, not {period!r}")
    year, month = int(parts[0]), int(parts[1]) if len(parts) == 2 else None
    if month is not None and not 1 <= month <= 12:
        raise ValueError(f"no month {month}")
    start = datetime(year, month or 1, 1, tzinfo=TZ)
    end = datetime(year + (month is None or month == 12), (month % 12 + 1) if month else 1, 1, tzinfo=TZ)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


@dataclass
class Export:
    root: Path
    items: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)

    def write(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files.append({"path": relative, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})


def export(s: Session, raw_store: BlobStore, file_store: BlobStore, period: str, out: Path,
           agency: str | None = None) -> Export:
    start, end = period_bounds(period)
    out.mkdir(parents=True, exist_ok=True)
    done = Export(out)
    cases: list[tuple[str, str, int, str]] = []
    for model, kind in ((Article, "article"), (Question, "question")):
        q = select(model.agency, model.reference, model.id).where(model.received_at >= start,
                                                                  model.received_at < end)
        if agency:
            q = q.where(model.agency == agency)
        cases += [(a, r, i, kind) for a, r, i in s.execute(q.order_by(model.id))]
    for slug, reference, case_id, kind in cases:
        record = (views.article_detail if kind == "article" else views.question_detail)(s, reference, slug)
        assert record is not None
        base = f"{slug}/{reference}"
        done.write(f"{base}/record.json", json.dumps(record, ensure_ascii=False, indent=2).encode())
        owner = Attachment.article_id if kind == "article" else Attachment.question_id
        quarantined = []
        for f in s.scalars(select(Attachment).where(owner == case_id).order_by(Attachment.id)):
            if f.ok:
                done.write(f"{base}/files/v{f.version}-{Path(f.filename).name}", file_store.get(f.sha256))
            else:
                quarantined.append({"filename": f.filename, "sha256": f.sha256, "reason": f.reason})
        inbound_owner = InboundMessage.article_id if kind == "article" else InboundMessage.question_id
        for m_id, sha in s.execute(select(InboundMessage.id, InboundMessage.raw_sha256).where(inbound_owner == case_id)
                                   .order_by(InboundMessage.id)):
            done.write(f"{base}/messages/in-{m_id}.eml", raw_store.get(sha, ".eml"))
        outbox_owner = OutboxMessage.article_id if kind == "article" else OutboxMessage.question_id
        for o_id, raw in s.execute(select(OutboxMessage.id, OutboxMessage.raw).where(outbox_owner == case_id)
                                   .order_by(OutboxMessage.id)):
            done.write(f"{base}/messages/out-{o_id}.eml", raw)
        done.items.append({"agency": slug, "reference": reference, "kind": kind, "status": record["status"],
                           "quarantined_files": quarantined})
    manifest = {"period": period, "from": start.isoformat(), "to": end.isoformat(),
                "generated_at": datetime.now(timezone.utc).isoformat(), "items": done.items, "files": done.files}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return done
