"""Every registered handler appears in some case table: the op keys of every ``CASES`` table in
tests/handlers/ (``cases.table_modules()``) cover ``trtgraph.registered_keys()``."""
from __future__ import annotations

import trtgraph

from .cases import table_modules


def test_every_handler_has_a_case():
    covered = set()
    modules = table_modules()
    for module in modules:
        for p in module.CASES:
            covered.update(p.values[2])
    keys = {k.split(".")[0] for k in trtgraph.registered_keys()}
    missing = sorted(keys - covered)
    assert not missing, f"handlers without a test case: {missing}"
    assert len(modules) >= 20, f"only {len(modules)} case tables found: {[m.__name__ for m in modules]}"
