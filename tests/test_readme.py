"""Every ```python block of README.md runs as written, each in a fresh interpreter, against the embedded server.

The test sets ``IQM_SERVER_URL`` to the session's embedded server (and a job ledger and working
directory private to the test), so blocks that build their client from the environment
(``AsyncIQMClient()``, ``IQMProvider()``) run unchanged. Blocks are found wherever they are and named
after their section, so sections added later are picked up without touching this file.

A block that can only run against a real IQM account is skipped when the line right before its fence
is the marker ``<!-- readme-test: skip -->`` (optionally followed by a reason before ``-->``). Keep those
few: every other block must run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP_MARKER = re.compile(r"^<!--\s*readme-test:\s*skip\b.*-->$")


@dataclass(frozen=True)
class Block:
    section: str
    line: int
    code: str
    skip: bool

    @property
    def name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-") or "top"
        return f"{slug}-line{self.line}"


def python_blocks(text: str) -> list[Block]:
    """Find the fenced python blocks, each with its section heading and whether the skip marker precedes it."""
    blocks: list[Block] = []
    section = ""
    lines = text.splitlines()
    i = 0
    previous = ""
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("#") and not stripped.startswith("#!") and re.match(r"^#{1,6} ", line):
            section = line.lstrip("#").strip()
        fence = re.match(r"^(\s*)(```+|~~~+)\s*(\w*)", line)
        if fence:
            indent, marker, lang = fence.groups()
            start = i + 1
            i += 1
            body: list[str] = []
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
                i += 1
            if lang.lower() in ("python", "py"):
                blocks.append(Block(section, start, "\n".join(body) + "\n", bool(SKIP_MARKER.match(previous))))
            previous = ""
            i += 1
            continue
        if stripped:
            previous = stripped
        i += 1
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_runnable_python_blocks() -> None:
    runnable = [b for b in BLOCKS if not b.skip]
    assert len(runnable) >= 5
    # Skipped blocks must stay the exception: each needs a real account.
    assert len(BLOCKS) - len(runnable) <= 3


def test_block_finder_reads_markers_sections_and_indented_fences() -> None:
    text = "# T\n## Use it\n<!-- readme-test: skip (needs an account) -->\n```python\nx = 1\n```\n\n1. item\n\n   ```python\n   y = 2\n   ```\n```bash\nz\n```\n"
    found = python_blocks(text)
    assert [(b.section, b.code, b.skip) for b in found] == [("Use it", "x = 1\n", True), ("Use it", "y = 2\n", False)]


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_readme_block_runs(block: Block, server, tmp_path: Path) -> None:
    if block.skip:
        pytest.skip(f"marked as needing a real IQM account (README line {block.line})")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IQM_")}
    env.update(
        IQM_SERVER_URL=server.url,
        IQM_ASYNC_LEDGER=str(tmp_path / "ledger.sqlite3"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        PYTHONPATH=str(ROOT),
    )
    script = tmp_path / "block.py"
    script.write_text(block.code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, f"README line {block.line} ({block.section}) failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr


# --------------------------------------------------------------------------------------------------
# Links: the README and docs/*.md stand alone
# --------------------------------------------------------------------------------------------------

DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    """Every heading anchor of a markdown file (fenced code ignored)."""
    anchors: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,6} ", line):
            anchors.add(github_anchor(line.lstrip("#")))
    return anchors


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_links_stay_in_the_repository_and_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "§" not in text, f"{doc.name} cites a section number; link a heading of docs/protocol.md instead"
    assert "../shared" not in text
    for target in LINK.findall(text):
        assert not re.match(r"^[a-z][a-z0-9+.-]*:", target), f"{doc.name} links outside the repository: {target}"
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        assert linked.exists(), f"{doc.name}: {target} does not exist"
        assert ROOT in linked.parents or linked == ROOT, f"{doc.name}: {target} is outside the repository"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors_of(linked), f"{doc.name}: no heading for #{anchor} in {linked.name}"
