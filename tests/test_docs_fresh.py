"""Generated docs must describe the code as it is: a doc that lists other op keys than the
registry has is out of date (regenerate it with its script)."""
import re
from pathlib import Path

import trtgraph  # noqa: F401 - registers the built-in handlers
from trtgraph.registry import registered_keys

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_ops_doc_lists_exactly_the_registered_keys():
    text = (DOCS / "ops.md").read_text()
    listed = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))
    registered = set(registered_keys())
    missing, extra = sorted(registered - listed), sorted(listed - registered)
    assert not missing and not extra, (f"docs/ops.md is out of date (run python scripts/ops_doc.py): "
                                       f"not listed {missing[:10]}, listed but not registered {extra[:10]}")
    count = re.search(r"(\d+) op keys", text)
    assert count and int(count.group(1)) == len(registered)
