"""A message's files, checked and stored: content-addressed bytes in the blob store, one Attachment row each."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailbot.config import Agency
from mailbot.mail import attachments as files
from mailbot.mail.message import ParsedMessage
from mailbot.storage.blobs import BlobStore
from mailbot.storage.models import Article, Attachment, FileStatus, InboundMessage


class Filer:
    """Built once per agency by the App and handed to intake, review and questions."""

    def __init__(self, agency: Agency, file_store: BlobStore):
        self.agency = agency
        self.file_store = file_store

    def store(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article | None = None,
              version: int | None = None) -> list[Attachment]:
        """Every file of `msg`, inspected (quarantined with the reason where it must be), under `article` if given.

        Without `version`, a file takes the next version of the article's file of the same name.
        """
        stored: list[Attachment] = []
        existing = {a.filename: a.version for a in article.attachments} if article is not None and article.id else {}
        for part in msg.attachments:
            filename = files.safe_filename(part.filename) or f"tep-dinh-kem-{len(stored) + 1}"
            verdict = part.verdict or files.inspect(filename, part.data, self.agency.intake, self.agency.limits,
                                                     self.agency.signatures)
            digest, _ = self.file_store.put(part.data)
            row = Attachment(
                agency=self.agency.slug, inbound_id=inbound.id, article_id=article.id if article else None,
                filename=filename[:500], declared_type=part.content_type, sniffed_type=verdict.sniffed,
                kind=verdict.kind, size=len(part.data), sha256=digest, content_id=part.content_id[:500],
                inline=part.inline, status=FileStatus.OK if verdict.ok else FileStatus.QUARANTINED, reason=verdict.reason,
                text_preview=verdict.text[:20000], signature=verdict.signature,
                original_name=part.filename if part.filename and part.filename != filename else None,
                version=version if version is not None else existing.get(filename, 0) + 1)
            s.add(row)
            stored.append(row)
        s.flush()
        return stored
