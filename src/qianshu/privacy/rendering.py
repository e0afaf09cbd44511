"""Turn a policy's Markdown (CommonMark) into safe HTML for the pages."""

from __future__ import annotations

from functools import cache

from markdown_it import MarkdownIt
from markupsafe import Markup


@cache
def _parser() -> MarkdownIt:
    # CommonMark with raw HTML off: any "<tag>" in the text is escaped, and markdown-it's link
    # validation drops javascript:, vbscript:, file: and data: URLs.
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def policy_html(text: str) -> Markup:
    """Render policy Markdown as HTML, raw HTML escaped, headings one level down (the page owns h1)."""
    parser = _parser()
    tokens = parser.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1:]) + 1, 6)}"
    return Markup(parser.renderer.render(tokens, parser.options, {}))  # noqa: S704  # escaped: html=False
