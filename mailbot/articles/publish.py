"""The publishing package's article page: clean HTML from the Word (mammoth) or OpenDocument (odfpy) file."""

from __future__ import annotations

import base64
import html
import io
import re

import nh3

from mailbot.mail.htmltext import sanitize
from mailbot.mail.vntext import collapse_space, fold


def docx_html(data: bytes) -> str:
    """Headings, lists, tables, and images in order (as data: URIs) with the captions the author wrote."""
    import mammoth

    result = mammoth.convert_to_html(io.BytesIO(data))
    return result.value


def odt_html(data: bytes) -> str:
    from odf import opendocument, teletype
    from odf.namespaces import DRAWNS, TABLENS, TEXTNS, XLINKNS

    document = opendocument.load(io.BytesIO(data))
    pictures = {name: blob for name, blob in getattr(document, "Pictures", {}).items()} if hasattr(
        document, "Pictures") else {}
    out: list[str] = []

    def images_in(node) -> None:
        for child in node.childNodes:
            if child.nodeType != child.ELEMENT_NODE:
                continue
            if child.qname == (DRAWNS, "image"):
                href = child.getAttrNS(XLINKNS, "href")
                entry = pictures.get(href)
                blob = entry[1] if isinstance(entry, tuple) else entry
                if blob:
                    mime = "image/png" if href.lower().endswith(".png") else "image/jpeg"
                    out.append(f'<p><img src="data:{mime};base64,{base64.b64encode(blob).decode()}"></p>')
            else:
                images_in(child)

    def walk(node) -> None:
        for child in node.childNodes:
            if child.nodeType != child.ELEMENT_NODE:
                continue
            q = child.qname
            if q == (TEXTNS, "h"):
                level = min(int(child.getAttrNS(TEXTNS, "outline-level") or 1), 6)
                out.append(f"<h{level}>{html.escape(teletype.extractText(child))}</h{level}>")
            elif q == (TEXTNS, "p"):
                text = teletype.extractText(child)
                if text.strip():
                    out.append(f"<p>{html.escape(text)}</p>")
                images_in(child)
            elif q == (TEXTNS, "list"):
                out.append("<ul>")
                for item in child.childNodes:
                    if item.nodeType == item.ELEMENT_NODE:
                        out.append(f"<li>{html.escape(teletype.extractText(item).strip())}</li>")
                out.append("</ul>")
            elif q == (TABLENS, "table"):
                out.append("<table>")
                for row in child.getElementsByType(__import__("odf.table", fromlist=["TableRow"]).TableRow):
                    cells = [html.escape(teletype.extractText(c)) for c in row.childNodes
                             if c.nodeType == c.ELEMENT_NODE]
                    out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
                out.append("</table>")
            else:
                walk(child)

    walk(document.text)
    return "\n".join(out)


_PAGE_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "table", "thead", "tbody", "tr", "td",
              "th", "strong", "em", "b", "i", "u", "img", "a", "br", "sup", "sub", "blockquote"}


_FIRST_BLOCK = re.compile(r"^\s*<(h[1-6]|p)\b[^>]*>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")


def without_repeated_title(title: str, body_html: str) -> str:
    """The body without its first heading or paragraph where that only repeats the title (a Word file's own
    heading, in any case or spacing): the page shows the title once, as its heading."""
    m = _FIRST_BLOCK.match(body_html)
    if m and fold(collapse_space(html.unescape(_TAGS.sub(" ", m.group(2))))).strip(" .:") == \
            fold(collapse_space(title)).strip(" .:"):
        return body_html[m.end():]
    return body_html


def article_page(title: str, body_html: str, author_line: str, reference: str) -> str:
    """A standalone page for the secretary to paste into the site: sanitised, data: images kept, the title
    once."""
    body_html = without_repeated_title(title, body_html)
    clean = nh3.clean(body_html, tags=_PAGE_TAGS, attributes={"img": {"src", "alt"}, "a": {"href"},
                                                               "td": {"colspan", "rowspan"}},
                      url_schemes={"http", "https", "data", "mailto"}, link_rel=None)
    return (f'<!DOCTYPE html>\n<html lang="vi">\n<head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{clean}\n"
            f'<p style="text-align: right;"><strong>{html.escape(author_line)}</strong></p>\n'
            f"<!-- {html.escape(reference)} -->\n</body>\n</html>\n")


def from_text(text: str) -> str:
    return sanitize("".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip()))
