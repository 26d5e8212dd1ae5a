"""The README and the manual in docs/ stay true to the checkout: every relative link and image points at a
file that exists (and, into a Markdown page, at a heading it has), every `python -m ml` subcommand and every
management command the project adds is named in them."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
COMMANDS_DIR = ROOT / "emotions" / "management" / "commands"

FENCED_BLOCK = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
MARKDOWN_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.IGNORECASE)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where brackets are code, not links."""
    return CODE_SPAN.sub("", FENCED_BLOCK.sub("", text))


def links(path: Path) -> list[str]:
    text = prose(path.read_text(encoding="utf-8"))
    return MARKDOWN_LINK.findall(text) + HTML_LINK.findall(text)


def is_external(target: str) -> bool:
    return re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) is not None  # http:, https:, mailto:, ...


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).replace("`", "")
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading anchors on its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found, seen = set(), {}
    for heading in HEADING.findall(FENCED_BLOCK.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def docs_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in DOCS)


def ml_subcommands() -> list[str]:
    from ml.cli import build_parser

    parser = build_parser()
    subparsers = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return sorted(name for action in subparsers for name in action.choices)


def management_commands() -> list[str]:
    return sorted(path.stem for path in COMMANDS_DIR.glob("*.py") if not path.stem.startswith("_"))


def test_the_manual_has_an_index_and_the_readme_links_to_it():
    index = next((ROOT / "docs" / name for name in ("README.md", "index.md") if (ROOT / "docs" / name).exists()), None)
    assert index is not None, "docs/ needs an index: docs/README.md or docs/index.md"
    linked = {(index.parent / target.partition("#")[0]).resolve() for target in links(index) if not is_external(target)}
    unlisted = [page.relative_to(ROOT).as_posix() for page in DOCS
                if page.parent == index.parent and page != index and page.resolve() not in linked]
    assert not unlisted, f"{index.relative_to(ROOT)} does not link to: {', '.join(unlisted)}"
    readme_targets = {target.partition("#")[0].rstrip("/") for target in links(ROOT / "README.md")}
    assert readme_targets & {"docs", "docs/README.md", "docs/index.md"}, \
        "README.md does not link to the manual in docs/"


@pytest.mark.parametrize("page", DOCS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_and_image_resolves(page):
    broken = []
    for target in links(page):
        if is_external(target):
            continue  # not fetched
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            shown = destination.relative_to(ROOT) if destination.is_relative_to(ROOT) else destination
            broken.append(f"{target} (no such file: {shown})")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target} (no heading with anchor #{anchor} in {destination.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)} has broken links: " + "; ".join(broken)


def test_every_ml_subcommand_is_documented():
    text = docs_text()
    missing = [name for name in ml_subcommands() if not re.search(rf"python -m ml {re.escape(name)}(?![\w-])", text)]
    assert not missing, "`python -m ml` subcommands not named in README.md or docs/: " + ", ".join(missing)


def test_every_management_command_is_documented():
    text = docs_text()
    commands = management_commands()
    assert commands, f"no management commands found in {COMMANDS_DIR}"
    missing = [name for name in commands if not re.search(rf"manage\.py {re.escape(name)}(?![\w-])", text)]
    assert not missing, ("management commands not named (as `manage.py NAME`) in README.md or docs/: "
                         + ", ".join(missing))
