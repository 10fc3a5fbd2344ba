"""README.md, docs/ and the papers' pages hold together: every relative link and
#anchor resolves, README.md stays a front page with a table of contents, and
docs/flags.md names every rule, net and flag the code declares."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from tests.support.paths import REPO
from urfbtf.nets import NETS
from urfbtf.rules import RULES

README = REPO / "README.md"
FLAGS_PAGE = REPO / "docs" / "flags.md"
README_MAX_LINES = 400


def pages() -> list[Path]:
    """README.md, docs/*.md and the papers' pages tools/<paper>/README.md."""
    return [
        README,
        *sorted((REPO / "docs").glob("*.md")),
        *sorted((REPO / "tools").glob("*/README.md")),
    ]


def _prose_lines(text: str):
    """The lines of a Markdown text outside fenced code blocks, with their
    1-based numbers."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: the rendered text lowercased,
    punctuation dropped (letters, digits, '_', '-' and spaces kept), spaces
    turned into '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = text.replace("`", "").replace("*", "").strip().lower()
    # github-slugger keeps letters, marks, decimal and letter numbers, '-', '_'
    # and spaces; superscripts and fractions (category No) go with punctuation.
    kept = (
        c
        for c in text
        if c in "-_ "
        or unicodedata.category(c)[0] in "LM"
        or unicodedata.category(c) in ("Nd", "Nl")
    )
    return "".join(kept).replace(" ", "-")


def headings(text: str) -> list[tuple[int, str]]:
    """(level, text) of every ATX heading outside code blocks."""
    found = []
    for _, line in _prose_lines(text):
        match = re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of `path` (a repeated slug gets
    -1, -2, ...)."""
    seen: dict[str, int] = {}
    result = set()
    for _, text in headings(path.read_text()):
        base = slug(text)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link and image in `path`'s prose
    (inline code and code blocks are not links)."""
    found = []
    for number, line in _prose_lines(path.read_text()):
        line = re.sub(r"`[^`]*`", "", line)
        for match in re.finditer(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", line):
            found.append((number, match.group(1)))
    return found


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("page", pages(), ids=_relative)
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for number, target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part) if path_part else page
        if not resolved.exists():
            broken.append(f"{_relative(page)}:{number}: {target} (no such file)")
            continue
        if anchor:
            if resolved.suffix != ".md" or resolved.is_dir():
                broken.append(
                    f"{_relative(page)}:{number}: {target} (anchor on a non-page)"
                )
            elif anchor not in anchors(resolved):
                broken.append(
                    f"{_relative(page)}:{number}: {target} (no heading with anchor "
                    f"#{anchor} in {_relative(resolved)})"
                )
    assert not broken, "\n".join(broken)


def test_slugs_follow_github():
    assert slug("Set-up: two commands") == "set-up-two-commands"
    assert slug("The package's layers") == "the-packages-layers"
    assert slug("`--rule` and `--net`") == "--rule-and---net"
    assert slug("Speed (ms/step), CPU") == "speed-msstep-cpu"
    assert slug("simpnet_s on CIFAR-10") == "simpnet_s-on-cifar-10"
    assert slug("W⁻¹ and x², 1–2 × 3") == "w-and-x-12--3"


def test_readme_is_a_front_page_with_a_table_of_contents():
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; a front page has at most "
        f"{README_MAX_LINES}: move reference to docs/ and results to tools/<paper>/."
    )
    sections = [title for level, title in headings(text) if level == 2]
    assert sections and sections[0] == "Contents", sections
    contents = text.split("\n## Contents\n", 1)[1].split("\n## ", 1)[0]
    listed = {target[1:] for target in re.findall(r"\]\((#[^)]+)\)", contents)}
    missing = [title for title in sections[1:] if slug(title) not in listed]
    assert not missing, f"sections missing from README's Contents: {missing}"


@pytest.mark.parametrize("page", pages(), ids=_relative)
def test_no_command_uses_this_projects_data_path(page):
    """Commands name the data directory by a variable ($DATA) or tfds, never a
    path that only this project's machines have."""
    assert "../shared/data" not in page.read_text()


def test_flags_page_names_every_rule_and_net():
    text = FLAGS_PAGE.read_text()
    missing_rules = [name for name in RULES if f"| `{name}` |" not in text]
    missing_nets = [name for name in NETS if f"| `{name}` |" not in text]
    assert not missing_rules, f"rules missing from docs/flags.md: {missing_rules}"
    assert not missing_nets, f"nets missing from docs/flags.md: {missing_nets}"


def _run_settings():
    from urfbtf.runner.run_settings import RUN_SETTINGS

    return RUN_SETTINGS


def test_flags_page_names_every_flag():
    text = FLAGS_PAGE.read_text()
    declared = {s.name for s in _run_settings()}
    declared |= {s.name for rule in RULES.values() for s in rule.settings}
    command_line = {"flagfile", "net_settings", "trials", "model_dir"}
    missing = sorted(
        name
        for name in declared | command_line
        if f"`--{name}`" not in text and f"`--[no]{name}`" not in text
    )
    assert not missing, f"flags missing from docs/flags.md: {missing}"


def test_readme_table_of_rules_names_every_rule():
    text = README.read_text()
    missing = [name for name in RULES if f"| `{name}` |" not in text]
    assert not missing, f"rules missing from README's table of rules: {missing}"
