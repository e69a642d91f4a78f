"""Filing decisions: reference numbers (gap-free per agency and year), category and title."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailbot.config import Agency
from mailbot.mail.vntext import collapse_space, fold
from mailbot.storage.models import Attachment, ReferenceCounter

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# Category precedence when keywords of several match: the more specific first.
_KEYWORD_ORDER = ("statistics", "report", "document", "photos", "article", "news")
_PREFIX = re.compile(r"^\s*((re|fwd?|tl|tr|aw|wg|sv|vs|chuyen tiep|chuyentiep|trl|phan hoi)\s*(\[\d+\])?\s*:\s*)+",
                     re.IGNORECASE)
_TAG = re.compile(r"\[([^\]]{1,30})\]")


def next_reference(session: Session, agency: Agency, when: datetime, prefix: str | None = None) -> str:
    """Take the next number in this agency's series (articles', or `prefix`'s) for the year; rolled back
    with the filing."""
    prefix = prefix or agency.reference_prefix
    year = when.astimezone(LOCAL_TZ).year
    key = {"agency": agency.slug, "prefix": prefix, "year": year}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(ReferenceCounter).values(**key, last=0).on_conflict_do_nothing())
    counter = session.scalars(select(ReferenceCounter).filter_by(**key).with_for_update()).one()
    counter.last += 1
    session.flush()
    return f"{prefix}-{year}-{counter.last:04d}"


def reference_pattern(agency: Agency, prefix: str | None = None) -> re.Pattern:
    return re.compile(rf"\b{re.escape(prefix or agency.reference_prefix)}-(\d{{4}})-(\d{{4,}})\b")


def strip_subject(subject: str) -> str:
    """The subject without reply/forward prefixes (any language), tags and references."""
    out = subject
    while True:
        folded = fold(out)
        m = _PREFIX.match(folded)
        if not m or not m.group(0):
            break
        out = out[len(m.group(0)):]
    return collapse_space(_TAG.sub(" ", out)).strip(" -:–")


# What staff put before a title to say what the mail is ("Tin bài: ...", "V/v ..."): not part of the title.
_LABEL = re.compile(r"^\s*(?:(?:gui\s+)?(?:tin\s+bai|bai\s+viet|tin\s+tuc|bai|tin)(?:\s+gui\s+dang)?\s*[:.\-–]|"
                    r"v\s*/\s*v\s*[:.\-–]?|ve\s+viec\s*[:.\-–]?)\s*")


def has_submission_label(agency: Agency, subject: str) -> bool:
    """The subject says the mail brings an article: a category's tag ("[TIN]"), or a label ("Tin bài: ...",
    "Gửi bài ...", "Bài viết: ..."). "V/v" is not one: citizens write it too."""
    tags = {fold(t) for rule in agency.categories for t in rule.tags}
    if any(fold(collapse_space(tag)) in tags for tag in _TAG.findall(subject)):
        return True
    title = fold(strip_subject(subject))
    m = _LABEL.match(title)
    return bool(m and not title.startswith(("v/v", "v / v", "ve viec"))) or bool(
        re.match(r"(?:xin\s+)?gui\s+(?:tin|bai|anh)\b", title))


def title_of(subject: str) -> str:
    """The article's title from its subject: prefixes, tags and a submission label taken off (the subject
    itself stays on record with the message)."""
    title = strip_subject(subject)
    m = _LABEL.match(fold(title))
    if m and m.end() < len(title):
        title = title[m.end():].strip(" -:–")
    return title


def category(agency: Agency, subject: str, text: str, attachment_kinds: list[str]) -> str:
    rules = {r.name: r for r in agency.categories}
    for tag in _TAG.findall(subject):
        ftag = fold(collapse_space(tag))
        for rule in agency.categories:
            if any(fold(t) == ftag for t in rule.tags):
                return rule.name
    fsubject = f" {fold(strip_subject(subject))} "
    for name in _KEYWORD_ORDER:
        keyed = rules.get(name)
        if keyed and any(re.search(rf"(^|\W){re.escape(fold(k))}($|\W)", fsubject) for k in keyed.keywords):
            return name
    documents = [k for k in attachment_kinds if k not in ("jpg", "png", "gif", "bmp")]
    if attachment_kinds and not documents and len(text.strip()) < 400 and "photos" in rules:
        return "photos"
    return agency.intake.default_category


IMAGE_KINDS = ("jpg", "png", "gif", "bmp")
LOGO_BYTES = 10 * 1024   # an inline image smaller than this is a signature's logo or an icon, not a photo


def photos_missing(agency: Agency, category: str, files: list[Attachment]) -> list[str]:
    """["photos"] where the category must carry photos (001 art. 9.1b) and none of the good files is one."""
    rule = next((r for r in agency.categories if r.name == category), None)
    if rule is None or not rule.photos_required:
        return []
    photos = [a for a in files if a.ok and a.kind in IMAGE_KINDS and not (a.inline and a.size < LOGO_BYTES)]
    return [] if photos else ["photos"]


def original_missing(agency: Agency, category: str, files: list[Attachment]) -> str:
    """Where the category needs a signed original (002 art. 9.1c) and no good PDF carries a valid digital
    signature: the state of the best one there is ("no_pdf" without any PDF, "unchecked" without a trust
    store); "" when nothing is missing."""
    rule = next((r for r in agency.categories if r.name == category), None)
    if rule is None or not rule.signed_original:
        return ""
    pdfs = [a for a in files if a.ok and a.kind == "pdf"]
    if any(a.signature and a.signature.get("state") == "valid" for a in pdfs):
        return ""
    if not pdfs:
        return "no_pdf"
    if not agency.signatures.enabled:
        return "unchecked"
    order = ("modified", "broken", "revoked", "expired", "untrusted", "unreadable", "unsigned")
    states = {(a.signature or {}).get("state", "unsigned") for a in pdfs}
    return next((s for s in order if s in states), "unsigned")


_SENSITIVE_TAGS = ("mat", "toi mat", "tuyet mat", "nhay cam", "sensitive")


def marked_sensitive(subject: str) -> bool:
    """A subject tag such as [MẬT] marks content touching state or professional secrets."""
    return any(fold(collapse_space(tag)) in _SENSITIVE_TAGS for tag in _TAG.findall(subject))
