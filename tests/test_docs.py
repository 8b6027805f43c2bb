"""README.md, the other top-level pages (CHANGELOG, PATCHES) and docs/ stay navigable: every
relative link reaches a file, every ``#anchor`` a heading (GitHub's slugs), and README's "Where
to go next" reaches every page of docs/."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from itertools import pairwise
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [*sorted(ROOT.glob("*.md")), *DOCS]


def _tokens(page: Path) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(page.read_text(encoding="utf-8"))


def _inline_text(inline: Token) -> str:
    """A heading's text as GitHub renders it: text and code spans, without markup."""
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every heading anchor of a page, repeated headings numbered as GitHub does (-1, -2)."""
    seen: Counter[str] = Counter()
    found = set()
    tokens = _tokens(page)
    for opening, inline in pairwise(tokens):
        if opening.type != "heading_open":
            continue
        base = slug(_inline_text(inline))
        found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return frozenset(found)


def links(page: Path) -> list[str]:
    """Every link target of a page outside code (fenced blocks and code spans hold none)."""
    targets = []
    for token in _tokens(page):
        for child in token.children or []:
            if child.type == "link_open":
                targets.append(str(child.attrs["href"]))
    return targets


def _relative(target: str) -> bool:
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


class TestLinks:
    @pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
    def test_relative_links_reach_files_and_headings(self, page: Path) -> None:
        """A relative link names an existing file, and its #anchor a heading of that file."""
        broken = []
        for target in filter(_relative, links(page)):
            parts = urlsplit(target)
            destination = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not destination.exists():
                broken.append(f"{target}: no such file")
            elif (
                parts.fragment
                and destination.suffix == ".md"
                and parts.fragment not in anchors(destination)
            ):
                broken.append(f"{target}: no heading with that anchor")
        assert broken == []

    def test_readme_leads_to_every_page_of_docs(self) -> None:
        """Each page of docs/ is linked from README, so none is found only by chance."""
        linked = {
            (README.parent / urlsplit(t).path).resolve()
            for t in links(README)
            if _relative(t) and urlsplit(t).path
        }
        assert DOCS, "docs/ holds the user guide"
        assert [d.name for d in DOCS if d.resolve() not in linked] == []


class TestTheChecker:
    """The checker itself finds what it must, so a passing run means something."""

    def test_slugs_follow_github(self) -> None:
        assert slug("For host systems: HTTP API and Python client") == (
            "for-host-systems-http-api-and-python-client"
        )
        assert slug("A ticket's carried state is bounded") == "a-tickets-carried-state-is-bounded"
        assert slug("Sizing beyond one machine: 1,000,000 open tickets") == (
            "sizing-beyond-one-machine-1000000-open-tickets"
        )

    def test_broken_links_and_code_are_told_apart(self, tmp_path: Path) -> None:
        page = tmp_path / "page.md"
        page.write_text(
            "# Top\n\n## Top\n\n[ok](#top-1) [gone](missing.md) [web](https://example.com)\n\n"
            "```md\n[in code](nowhere.md)\n# not a heading\n```\n\n`[span](nowhere.md)`\n"
        )
        assert links(page) == ["#top-1", "missing.md", "https://example.com"]
        assert anchors(page) == {"top", "top-1"}
