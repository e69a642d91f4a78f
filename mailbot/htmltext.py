"""HTML mail made safe (nh3) and turned into plain text; remote images are dropped, never fetched."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

_ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li",
    "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "u", "ul", "font",
    "sup", "sub",
}
_ALLOWED_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt"}, "td": {"colspan", "rowspan"},
                       "th": {"colspan", "rowspan"}, "blockquote": {"type"}, "div": {"class"}}


def _keep_only_cid_images(tag: str, attr: str, value: str) -> str | None:
    if tag == "img" and attr == "src" and not value.lower().startswith("cid:"):
        return None  # a remote image is a tracking pixel or a fetch we never make
    return value


def sanitize(html: str) -> str:
    """Sanitised HTML: no scripts, styles, event handlers or remote images; cid: images kept."""
    return nh3.clean(html, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto", "cid"}, attribute_filter=_keep_only_cid_images,
                     link_rel=None, strip_comments=True)


_BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr",
          "blockquote", "pre"}


class _TextMaker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.pre = 0

    def _break(self) -> None:
        line = "".join(self.current)
        if not self.pre:
            line = re.sub(r"[ \t\u00a0]+", " ", line).strip()
        prefix = "> " * self.quote_depth
        self.lines.append(prefix + line if line else prefix.rstrip())
        self.current = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _BLOCK:
            if self.current:
                self._break()
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "li":
                self.current.append("- ")
            elif tag == "pre":
                self.pre += 1
        elif tag == "td" and self.current:
            self.current.append(" | ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.current.append(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag == "br":
            self._break()
        else:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK and tag != "br":
            if self.current:
                self._break()
            if tag == "blockquote" and self.quote_depth:
                self.quote_depth -= 1
            elif tag == "pre" and self.pre:
                self.pre -= 1

    def handle_data(self, data: str) -> None:
        if not self.pre:
            data = data.replace("\n", " ")
        self.current.append(data)

    def text(self) -> str:
        if self.current:
            self._break()
        out = "\n".join(self.lines)
        return re.sub(r"\n{3,}", "\n\n", out).strip()


def to_text(html: str) -> str:
    """Readable plain text from (untrusted) HTML; blockquotes become '> ' lines."""
    if not html.strip():
        return ""
    maker = _TextMaker()
    maker.feed(sanitize(html))
    maker.close()
    return maker.text()
