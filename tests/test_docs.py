"""The docs quote real files: every ```python block introduced by a line naming a file of the
repository must appear in that file word for word, so the docs cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
DOCS = sorted((REPO / "docs").glob("*.md"))
_QUOTE = re.compile(r"`((?:sample_project|plugins)/[^`\s]+\.(?:py|toml|example))`[^\n]*\n+```(?:python|toml|sh|ini)?\n(.*?)```", re.S)


def quotes() -> list[tuple[str, str, str]]:
    found = []
    for page in DOCS:
        for path, block in _QUOTE.findall(page.read_text(encoding="utf-8")):
            found.append((page.name, path, block))
    return found


def test_docs_quote_files() -> None:
    assert len(quotes()) >= 10


@pytest.mark.parametrize(("page", "path", "block"), quotes(), ids=lambda v: v if "\n" not in v else "")
def test_quoted_block_is_in_the_file(page: str, path: str, block: str) -> None:
    source = (REPO / path).read_text(encoding="utf-8")
    for chunk in block.split("\n...\n"):  # "..." on its own line marks an elision
        assert chunk.strip() in source, f"{page} quotes {path}, but this is not in the file:\n{chunk}"
