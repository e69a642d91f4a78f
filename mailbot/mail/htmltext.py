"""HTML mail made safe (nh3) and turned into plain text; remote images are dropped, never fetched.

Text a reader cannot see is removed before anything else: a `display:none` DUYỆT above a visible
refusal must not count as an approval, nor appear in a preview as if the sender had written it.
"""

from __future__ import annotations

import html as htmllib
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


# Declarations that hide an element or make its text unreadable. Over-approximated on purpose: text
# wrongly taken for hidden only makes a command unclear, text wrongly taken for visible could approve.
_HIDING = re.compile(
    r"display:none|visibility:(hidden|collapse)|mso-hide:all|opacity:0*(\.[0-2]\d*)?%?(?:[;!]|$)|"
    r"font-size:(0*(\.\d+)?(px|pt|em|rem|%)?|[12](\.\d+)?(px|pt))(?:[;!]|$)|"
    r"(max-)?(height|width):0+(px|pt|em|rem|%)?(?:[;!]|$)|"
    r"line-height:0(?:[;!]|$)|color:transparent|clip(-path)?:|text-indent:-|transform:scale\(0|"
    r"(left|top|right|bottom):-\d{3,}|position:(absolute|fixed)")
_INVISIBLE_TAGS = {"script", "style", "head", "title", "template", "noscript", "iframe", "object", "svg", "math",
                   "select", "option", "textarea", "button", "datalist", "frameset", "noframes"}
MAX_DEPTH = 256       # nested elements followed; deeper content is taken as hidden
END_TAG_REACH = 64    # open elements an end tag may close at once (browsers' own limits are similar)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
         "wbr", "keygen"}


def _css(text: str) -> str:
    """CSS reduced for matching: lower case, no comments, escapes decoded, no white space."""
    text = re.sub(r"/\*.*?(\*/|$)", "", text.lower(), flags=re.S)
    text = re.sub(r"\\([0-9a-f]{1,6})\s?", lambda m: chr(min(int(m.group(1), 16), 0x10FFFF) or 0xFFFD), text)
    text = re.sub(r"\\(.)", r"\1", text)
    return re.sub(r"\s+", "", text)


def _hiding_selectors(css: str) -> tuple[set[str], set[str], set[str]]:
    """Classes, ids and tag names named by a style-sheet rule that hides: each is taken as hidden anywhere."""
    classes: set[str] = set()
    ids: set[str] = set()
    tags: set[str] = set()
    for rule in _css(css).split("}")[:-1]:   # each "selectors { body }", read in one linear pass
        if "{" not in rule:
            continue
        selectors, body = rule.rsplit("{", 1)
        selectors = selectors.rsplit("{", 1)[-1]
        if not _HIDING.search(body):
            continue
        for token in re.findall(r"([.#]?)(-?[_a-z0-9\u00a0-\uffff][-_a-z0-9\u00a0-\uffff]*)", selectors):
            kind, name = token
            (classes if kind == "." else ids if kind == "#" else tags).add(name)
    return classes, ids, tags


class _HiddenStripper(HTMLParser):
    """Re-writes HTML without what a reader would not see: hidden elements and their content, invisible tags."""

    def __init__(self, hiding: tuple[set[str], set[str], set[str]]) -> None:
        super().__init__(convert_charrefs=True)
        self.hiding = hiding
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # open elements: (tag, hidden from here down)
        self.too_deep = 0                         # elements opened below MAX_DEPTH, not tracked

    @property
    def hidden(self) -> bool:
        # Deeper than MAX_DEPTH counts as hidden: bounded work on hostile nesting, and never visible text
        # that was not really read.
        return self.too_deep > 0 or bool(self.stack) and self.stack[-1][1]

    def _hides(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if tag in _INVISIBLE_TAGS:
            return True
        values = {k.lower(): (v or "") for k, v in attrs}
        if "hidden" in values or values.get("aria-hidden", "").strip().lower() == "true":
            return True
        if _HIDING.search(_css(values.get("style", ""))):
            return True
        if tag == "input" and values.get("type", "").lower() == "hidden":
            return True
        classes, ids, tags = self.hiding
        return tag in tags or _css(values.get("id", "")) in ids or any(
            c in classes for c in _css(" ".join(values.get("class", "").split()).replace(" ", ",")).split(","))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID and len(self.stack) >= MAX_DEPTH:
            self.too_deep += 1
            return
        hidden = self.hidden or self._hides(tag, attrs)
        if not hidden:
            rendered = "".join(f' {k}="{htmllib.escape(v or "", quote=True)}"' for k, v in attrs)
            self.out.append(f"<{tag}{rendered}>")
        if tag not in VOID:
            self.stack.append((tag, hidden))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not (self.hidden or self._hides(tag, attrs)):
            rendered = "".join(f' {k}="{htmllib.escape(v or "", quote=True)}"' for k, v in attrs)
            self.out.append(f"<{tag}{rendered}>")

    def handle_endtag(self, tag: str) -> None:
        if self.too_deep:
            self.too_deep -= 1
            return
        for i in range(len(self.stack) - 1, max(len(self.stack) - END_TAG_REACH, 0) - 1, -1):
            if self.stack[i][0] == tag:
                hidden = self.stack[i][1]
                del self.stack[i:]
                if not hidden:
                    self.out.append(f"</{tag}>")
                return
        # An end tag nothing opened: browsers ignore it, and so do we.

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(htmllib.escape(data, quote=False))


def strip_hidden(html: str) -> str:
    """The HTML without hidden elements (inline styles, hiding style-sheet rules, hidden attributes)."""
    sheets = re.findall(r"<style\b[^>]*>(.*?)(?:</style\s*>|$)", html, flags=re.I | re.S)
    stripper = _HiddenStripper(_hiding_selectors("\n".join(sheets)))
    stripper.feed(html)
    stripper.close()
    return "".join(stripper.out)


def sanitize(html: str) -> str:
    """Sanitised HTML: no hidden text, scripts, styles, event handlers or remote images; cid: images kept."""
    return nh3.clean(strip_hidden(html), tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES,
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
    maker.feed(sanitize(html))  # hidden text is gone before the text is read
    maker.close()
    return maker.text()
