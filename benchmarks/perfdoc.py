"""Writing a benchmark's figures into its own section of ``docs/performance.md``.

Each benchmark owns the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``;
the rest of the page is left as it is.
"""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
HEADER = (
    "# Performance\n\nFigures are medians measured on the 2-core shared machine; "
    "ratios are compared within one run, never across runs.\n"
)


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section ``name`` of the performance page."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n## {title}\n\n{body}{end}\n"
    text = DOCS.read_text() if DOCS.exists() else HEADER
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    DOCS.write_text(text)
