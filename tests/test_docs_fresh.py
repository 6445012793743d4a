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


def _bounds(pattern: str, text: str) -> float:
    m = re.search(pattern, text, flags=re.S)
    assert m, f"README no longer says {pattern!r}: update this test with it"
    return float(m.group(1))


def test_readme_quotes_the_dynamic_figures_of_docs_dynamic():
    """The README's error bounds for dynamic shapes are the figures of docs/dynamic.json (rounded up
    to two digits): an old figure after a regeneration fails here."""
    import json

    rows = json.loads((DOCS / "dynamic.json").read_text())
    text = (DOCS.parent / "README.md").read_text()
    big = [s["max_rel"] for r in rows if r["model"] in ("resnet50", "bert_base") for s in r["shapes"]]
    zoo = [s["max_rel"] for r in rows if r["model"] not in ("resnet50", "bert_base") for s in r["shapes"]]
    for quoted, worst in ((_bounds(r"three shapes each with a max\s+relative error of at most ([0-9]+\.?[0-9]*e-[0-9]+)", text),
                           max(big)),
                          (_bounds(r"batch 1, 5 and 6 with max relative error ≤ ([0-9]+\.?[0-9]*e-[0-9]+)", text), max(zoo))):
        assert worst <= quoted < worst * 1.1, f"README quotes {quoted:.2g}, docs/dynamic.json has {worst:.3g}"
