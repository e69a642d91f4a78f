"""Forged and replayed commands, generated from real notifications: each a (name, raw bytes) pair.

Every forgery starts from a reply the way a mail client writes it (tests.review_helpers.reply) to a
notification mailbot really sent, then changes what an attacker would change. None of them may move
an article: the suite counts what got through.
"""

from __future__ import annotations

import base64
import html
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

from tests import samples
from tests.review_helpers import AUTHOR, AUTHSERV, BOARD, MEMBER, reply, stamp, subject_of
from tests.servers import Received

CLIENTS = ("gmail", "gmail_mobile", "outlook_vi", "outlook_en", "thunderbird", "zimbra", "iphone")
COMMANDS = ("DUYỆT", "APPROVE", "duyệt", "Duyet.", "TỪ CHỐI: CL", "YÊU CẦU SỬA: viết lại đoạn hai",
            "CHUYỂN: Lê Thị Mai", "XIN Ý KIẾN", "NHẠY CẢM", "ĐÃ ĐĂNG: https://stp.binhphuoc.gov.vn/a")
ATTACKER = ("Kẻ gian", "attacker@evil.example")
FORMER = ("Hồ Văn Cũ", "cu.hv@binhphuoc.gov.vn")   # left the board; a token of theirs is still stored
# What members write that is no command (the hidden HTML's visible part).
NOT_COMMANDS = ("Em đã xem, chiều nay em trả lời anh.", "Đã nhận.", "Cảm ơn anh.", "Để em xem lại bài.",
                "Ok, mai em xử lý.", "Anh gọi cho em nhé.", "Em đang đi công tác.")


# -- raw header surgery ------------------------------------------------------------------------

def _split(raw: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += b"\r\n" + line
        else:
            lines.append(line)
    return lines, body


def _join(lines: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def without(raw: bytes, name: str) -> bytes:
    lines, body = _split(raw)
    return _join([x for x in lines if not x.lower().startswith(name.lower().encode() + b":")], body)


def put(raw: bytes, name: str, value: str, *, top: bool = False, replace: bool = True) -> bytes:
    """Set header `name` (replacing every one there was), or add one more; at the top if asked."""
    if replace:
        raw = without(raw, name)
    lines, body = _split(raw)
    line = f"{name}: {value}".encode()
    lines = [line, *lines] if top else [*lines, line]
    return _join(lines, body)


def token_of(notification: Received) -> str:
    return notification.message["Message-ID"].strip().strip("<>")


def encoded_word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


# -- the generator -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Targets:
    """The real notifications the forgeries answer, and tokens made to be misused."""

    member: Received          # the edit step's request to MEMBER, article 1 (the one that must not move)
    deputy: Received          # the same step's request to DEPUTY
    used: Received            # MEMBER's request on article 2, already used for a decision
    expired: str              # a token of MEMBER's on article 1, past its expiry
    former: str               # a token of someone no longer on the board
    author: str               # a token that reached the article's own author


def _reply(n: Received, client: str, sender: tuple[str, str], text: str, **kw) -> bytes:
    return reply(n, client, sender, text, **kw)


def _hidden_html(visible: str, hidden: str, how: str) -> str:
    forms = {
        "display-none": f'<div style="display:none">{hidden}</div>',
        "display-none-spaced": f'<div style="DISPLAY : none !important">{hidden}</div>',
        "visibility": f'<p style="visibility:hidden">{hidden}</p>',
        "hidden-attr": f"<p hidden>{hidden}</p>",
        "font-size-0": f'<span style="font-size:0px">{hidden}</span>',
        "mso-hide": f'<span style="mso-hide:all">{hidden}</span>',
        "opacity": f'<div style="opacity:0">{hidden}</div>',
        "style-class": f"<style>.ql{{display:none}}</style><div class=\"ql\">{hidden}</div>",
        "css-comment": f'<div style="dis/**/play:none">{hidden}</div>',
        "css-escape": f'<div style="display:n\\6f ne">{hidden}</div>',
        "height-0": f'<div style="max-height:0;overflow:hidden">{hidden}</div>',
        "offscreen": f'<div style="position:absolute;left:-9999px">{hidden}</div>',
    }
    return f"<html><body>{forms[how]}<div>{html.escape(visible)}</div></body></html>"


def forgeries(t: Targets) -> Iterator[tuple[str, bytes]]:
    """Every forged or replayed command: (what it tries, raw bytes), each with a Message-ID of its own."""
    for name, raw in _forgeries(t):
        yield name, put(raw, "Message-ID", f"<forgery.{secrets.token_hex(10)}@evil.example>")


def _forgeries(t: Targets) -> Iterator[tuple[str, bytes]]:
    member_token = token_of(t.member)
    for ci, client in enumerate(CLIENTS):
        # Four commands per client shape and kind, rotating, so every command meets every kind.
        commands = [COMMANDS[(ci * 4 + k) % len(COMMANDS)] for k in range(4)]
        for command in commands:
            tag = f"{client}/{command}"
            # 1. From read from decoded text: the display name decodes to the member's name and address.
            fake = f'"{MEMBER[0]} <{MEMBER[1]}>"'
            base = _reply(t.member, client, ATTACKER, command)
            yield f"decoded-name-b/{tag}", put(base, "From", f"{encoded_word(fake)} <{ATTACKER[1]}>")
            yield f"decoded-name-q/{tag}", put(base, "From", f"=?utf-8?q?{MEMBER[1].replace('@', '=40')}?= "
                                                            f"<{ATTACKER[1]}>")
            yield f"quoted-address-name/{tag}", put(base, "From", f'"{MEMBER[1]}" <{ATTACKER[1]}>')
            yield f"bare-address-name/{tag}", put(base, "From", f"{MEMBER[1]} <{ATTACKER[1]}>")
            yield f"comment-address/{tag}", put(base, "From", f"{ATTACKER[1]} ({MEMBER[1]})")
            # 2. Several senders, even with the board's server vouching for the member's domain.
            own = _reply(t.member, client, MEMBER, command)
            yield f"two-from-member-first/{tag}", put(own, "From", f"<{ATTACKER[1]}>", replace=False)
            yield f"two-from-attacker-first/{tag}", put(put(own, "From", f"<{ATTACKER[1]}>"), "From",
                                                        f"{MEMBER[0]} <{MEMBER[1]}>", replace=False)
            yield f"two-addresses/{tag}", put(own, "From", f"{MEMBER[1]}, {ATTACKER[1]}")
            yield f"group/{tag}", put(own, "From", f"Ban: {MEMBER[1]}, {ATTACKER[1]};")
            yield f"sender-differs/{tag}", put(own, "Sender", ATTACKER[1])
            yield f"trailing-dot/{tag}", put(own, "From", f"{MEMBER[1]}.")
            # 3. Authentication-Results read as text, or from the wrong place.
            unsigned = _reply(t.member, client, MEMBER, command, extra_headers=())
            ar = "Authentication-Results"
            yield f"no-stamp/{tag}", unsigned
            yield f"dkim-other-domain/{tag}", put(unsigned, ar, f"{AUTHSERV}; dkim=pass header.d=x.example; "
                                                               "dmarc=fail header.from=binhphuoc.gov.vn", top=True)
            yield f"pass-in-mailfrom/{tag}", put(unsigned, ar, f"{AUTHSERV}; spf=pass smtp.mailfrom=dkim=pass@x.example",
                                                 top=True)
            yield f"other-authserv/{tag}", put(unsigned, ar, f"{AUTHSERV}.evil.example; dmarc=pass "
                                                            "header.from=binhphuoc.gov.vn", top=True)
            yield f"ours-below-another/{tag}", put(put(unsigned, ar, f"{AUTHSERV}; dmarc=pass header.from="
                                                                     "binhphuoc.gov.vn", top=True),
                                                   ar, "mx.evil.example; none", top=True, replace=False)
            yield f"dkim-pass-unsigned/{tag}", put(unsigned, ar, f"{AUTHSERV}; dkim=pass header.d=binhphuoc.gov.vn",
                                                   top=True)
            yield f"dkim-public-suffix/{tag}", put(unsigned, ar, f"{AUTHSERV}; dkim=pass header.d=gov.vn", top=True)
            yield f"dmarc-other-domain/{tag}", put(unsigned, ar, f"{AUTHSERV}; dmarc=pass header.from=evil.example",
                                                   top=True)
            yield f"dmarc-no-domain/{tag}", put(unsigned, ar, f"{AUTHSERV}; dmarc=pass", top=True)
            yield f"conflicting-stamps/{tag}", put(put(unsigned, ar, f"{AUTHSERV}; dmarc=pass header.from="
                                                                     "binhphuoc.gov.vn", top=True),
                                                   ar, f"{AUTHSERV}; dmarc=fail header.from=binhphuoc.gov.vn",
                                                   top=True, replace=False)
            yield f"encoded-stamp/{tag}", put(unsigned, ar, f"{AUTHSERV}; =?utf-8?q?dmarc=3Dpass?= "
                                                           "header.from=binhphuoc.gov.vn", top=True)
            # 4. Wrong, garbled and misplaced tokens (the member's own real token nowhere in the headers).
            own = put(own, "To", BOARD)
            for name, mangled in (("token-changed", member_token.replace("mailbot.t-", "mailbot.t-X", 1)),
                                  ("token-truncated", member_token.split("@")[0][:-6] + "@binhphuoc.gov.vn"),
                                  ("token-other-domain", member_token.split("@")[0] + "@evil.example"),
                                  ("token-random", "mailbot.t-" + "A" * 32 + "@binhphuoc.gov.vn")):
                yield f"{name}/{tag}", put(put(own, "In-Reply-To", f"<{mangled}>"), "References", f"<{mangled}>")
            header_free = put(without(without(own, "In-Reply-To"), "References"), "To", BOARD)
            yield f"token-in-subject/{tag}", put(header_free, "Subject", f"Re: {member_token}")
            yield f"token-in-x-header/{tag}", put(header_free, "X-Token", member_token)
            # 5. Somebody else's, used, expired, former or author tokens.
            yield f"other-members-token/{tag}", _reply(t.deputy, client, MEMBER, command)
            yield f"used-token/{tag}", _reply(t.used, client, MEMBER, command)
            for name, token, who in (("expired-token", t.expired, MEMBER), ("former-member", t.former, FORMER),
                                     ("author-own-token", t.author, AUTHOR)):
                raw = put(_reply(t.member, client, who, command), "To", BOARD)
                yield f"{name}/{tag}", put(put(raw, "In-Reply-To", f"<{token}>"), "References", f"<{token}>")
            yield f"author-forwarded/{tag}", _reply(t.member, client, AUTHOR, command)
            # 6. Look-alike addresses, each stamped as its own domain would be.
            for name, addr in (("homoglyph", "b\u0430o.pq@binhphuoc.gov.vn"), ("plus-address", "bao.pq+x@binhphuoc.gov.vn"),
                               ("idn", "bao.pq@b\u00ecnhphuoc.gov.vn"), ("punycode", "bao.pq@xn--bnhphuoc-jwa.gov.vn"),
                               ("lookalike-domain", "bao.pq@binhphuoc-gov.vn")):
                raw = _reply(t.member, client, (MEMBER[0], "x@example.org"), command, extra_headers=stamp(addr))
                yield f"{name}/{tag}", put(raw, "From", f"{encoded_word(MEMBER[0])} <{addr}>")
            # 7. Reply-To and plus-address tricks.
            yield f"reply-to-member/{tag}", put(base, "Reply-To", MEMBER[1])
            local, _, domain = BOARD.partition("@")
            plus = f"{local}+{member_token.split('@')[0].removeprefix('mailbot.t-')}@{domain}"
            yield f"plus-address-token/{tag}", put(put(without(without(base, "In-Reply-To"), "References"), "To",
                                                       plus), "Cc", plus)
        # 8. Hidden HTML above visible words that are no command; and plain and HTML that disagree.
        for how in ("display-none", "display-none-spaced", "visibility", "hidden-attr", "font-size-0", "mso-hide",
                    "opacity", "style-class", "css-comment", "css-escape", "height-0", "offscreen"):
            body = _hidden_html(NOT_COMMANDS[ci], "DUYỆT", how)
            raw = samples.build("apple", sender=MEMBER, to=BOARD, subject=f"Re: {subject_of(t.member)}", text="",
                                html=body, in_reply_to=member_token, references=(member_token,),
                                extra_headers=stamp(MEMBER[1]))
            yield f"hidden-html-{how}/{client}", raw
        yield f"plain-and-html-disagree/{client}", _disagreeing(t.member, _SHOWN[ci], "TỪ CHỐI: CL")
        # 9. Commands only in quoted text.
        yield f"quoted-only/{client}", _reply(t.member, client, MEMBER, "Cảm ơn anh, em sẽ xem sau.")
        yield f"quoted-command/{client}", _reply(t.member, client, MEMBER, "Em đồng ý với ý kiến bên dưới.\n\n> DUYỆT")


_SHOWN = ("DUYỆT", "APPROVE", "duyệt", "Duyet.", "CHUYỂN: Lê Thị Mai", "XIN Ý KIẾN", "NHẠY CẢM")


def _disagreeing(n: Received, shown: str, plain: str) -> bytes:
    """The member's authentic reply whose plain text says one command and whose HTML shows another."""
    msg = EmailMessage()
    msg["From"] = f"{MEMBER[0]} <{MEMBER[1]}>"
    msg["To"] = BOARD
    msg["Subject"] = f"Re: {subject_of(n)}"
    msg["Message-ID"] = f"<{secrets.token_hex(8)}@binhphuoc.gov.vn>"
    msg["In-Reply-To"] = msg["References"] = f"<{token_of(n)}>"
    msg["Authentication-Results"] = stamp(MEMBER[1])[0][1]
    msg.set_content(plain)
    msg.add_alternative(f"<div>{html.escape(shown)}</div>", subtype="html")
    return msg.as_bytes().replace(b"\n", b"\r\n")
