"""The engine cache returns only the engine of this exact conversion, and keeps to its own files
(issue 10, item 5): user handler sources in the key, a key stable across processes, clear_cache
sparing the user's files, an unwritable folder, the size limit with LRU eviction, `trtgraph cache`."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import trtgraph
from trtgraph import registry
from trtgraph import serialization as ser
from trtgraph.cache import cache_key, clear_cache
from trtgraph.cli import main

REPO = Path(trtgraph.__file__).resolve().parent.parent  # the trtgraph under test


def keys_in(folder) -> list:
    """The keys of the cache entries in ``folder`` (64 hex digits + .engine, with a sidecar), by name."""
    return sorted(p.name[:-len(".engine")] for p in Path(folder).glob("*.engine")
                  if len(p.name) == 64 + len(".engine") and ser.sidecar_path(p).exists())


def size_of(folder, key: str) -> int:
    path = Path(folder) / f"{key}.engine"
    return path.stat().st_size + ser.sidecar_path(path).stat().st_size


def small(width: int = 4):
    return nn.Sequential(nn.Linear(width, 3), nn.ReLU()).eval()


class Lgamma(nn.Module):
    """aten::lgamma has no handler in trtgraph: the test registers its own."""

    def forward(self, x):
        return torch.lgamma(torch.relu(x) + 1)


@pytest.fixture
def builds(monkeypatch):
    calls = []
    original = trtgraph.api.Conversion.build

    def counting(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(trtgraph.api.Conversion, "build", counting)
    return calls


@pytest.fixture
def saved_registry():
    """Restore the handler registry after the test, whatever it registered."""
    before = dict(registry._HANDLERS)
    yield
    registry._HANDLERS.clear()
    registry._HANDLERS.update(before)


_HANDLER_SOURCE = '''
from trtgraph import register_node_handler


def _kind():
    return "{kind}"


@register_node_handler("aten::lgamma(Tensor self) -> Tensor")
def lgamma(ctx, self):
    return {body}
'''


def test_editing_a_user_handler_rebuilds(tmp_path, builds, saved_registry, monkeypatch):
    assert registry.lookup("aten::lgamma") is None  # else this test would not test a user handler
    src = tmp_path / "src"
    src.mkdir()
    module_file = src / "my_lgamma_handlers.py"
    module_file.write_text(_HANDLER_SOURCE.format(kind="RELU", body='ctx.activation(self, _kind())'))
    monkeypatch.syspath_prepend(str(src))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.delitem(sys.modules, "my_lgamma_handlers", raising=False)
    mod = importlib.import_module("my_lgamma_handlers")
    model, x, cache = Lgamma(), torch.randn(2, 3), tmp_path / "cache"
    try:
        assert trtgraph.compile(model, [x], cache_dir=cache).cache_hit is False
        assert trtgraph.compile(model, [x], cache_dir=cache).cache_hit is True
        # the same handler, same module: its body edited, then only the helper it calls
        for n, (kind, body) in enumerate([("RELU", 'ctx.activation(ctx.activation(self, _kind()), "RELU")'),
                                          ("SIGMOID", 'ctx.activation(ctx.activation(self, _kind()), "RELU")')]):
            registry.unregister_node_handler("aten::lgamma")
            module_file.write_text(_HANDLER_SOURCE.format(kind=kind, body=body))
            importlib.reload(mod)
            assert trtgraph.compile(model, [x], cache_dir=cache).cache_hit is False, n
            assert trtgraph.compile(model, [x], cache_dir=cache).cache_hit is True, n
        assert len(builds) == 3 and len(keys_in(cache)) == 3
    finally:
        sys.modules.pop("my_lgamma_handlers", None)


def _activation_handler(kind):
    def handler(ctx, self):
        return ctx.activation(self, kind)
    return handler


def test_handlers_made_by_one_factory_give_different_keys(saved_registry):
    """Same source, different closure values (the _simple("aten::relu", "RELU") pattern)."""
    model, x = Lgamma(), torch.randn(2, 3)
    keys = []
    for kind in ("RELU", "SIGMOID", "RELU"):
        registry.unregister_node_handler("aten::lgamma")
        registry.register_node_handler("aten::lgamma")(_activation_handler(kind))
        keys.append(cache_key(model, [x])[0])
    assert keys[0] != keys[1] and keys[0] == keys[2]


_KEY_SCRIPT = textwrap.dedent('''
    import torch, trtgraph
    from trtgraph.cache import cache_key
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(-1))
    policy = trtgraph.PrecisionPolicy(fp32_ops={"aten::softmax", "aten::exp", "aten::log", "aten::sum",
                                                "aten::mean", "aten::var", "aten::norm", "aten::pow"},
                                      extra_fp32_ops={"aten::linear", "aten::relu", "aten::gelu"})
    key, _ = cache_key(model, [torch.ones(2, 4)], "fp16", None, precision_policy=policy,
                       dynamic_shapes={"input_0": {0: (1, 2, 8)}})
''')


def test_key_is_the_same_in_every_process():
    """A PrecisionPolicy holding sets: repr() orders them by string hash, which PYTHONHASHSEED changes.
    The key computed here is compared with one computed in a process with another hash seed."""
    here: dict = {}
    exec(_KEY_SCRIPT, here)  # noqa: S102 - the same code as the other process runs
    ours = os.environ.get("PYTHONHASHSEED", "")
    other = str(int(ours) + 1) if ours.isdigit() else "1"  # ours unset or "random": a random seed
    env = dict(os.environ, PYTHONHASHSEED=other, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _KEY_SCRIPT + "print(key)"], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    theirs = proc.stdout.strip().splitlines()[-1]
    assert len(theirs) == 64 and theirs == here["key"]


def test_key_document_is_canonical():
    from trtgraph.cache import canonical

    a = trtgraph.PrecisionPolicy(fp32_ops={"aten::exp", "aten::log"})
    b = trtgraph.PrecisionPolicy(fp32_ops=["aten::log", "aten::exp"])
    assert json.dumps(canonical({"p": {"aten::exp", "aten::log"}})) == \
        json.dumps(canonical({"p": {"aten::log", "aten::exp"}}))
    assert canonical(a)["fields"]["fp32_ops"] != canonical(b)["fields"]["fp32_ops"]  # a set is not a list
    t = torch.arange(6.0)
    assert canonical(t) == canonical(t.clone()) != canonical(t + 1)
    big = np.zeros(5000)  # its repr elides the middle: the key must not
    changed = big.copy()
    changed[2500] = 1
    assert canonical(big) == canonical(big.copy()) != canonical(changed)
    model, x = small(), torch.randn(2, 4)
    assert cache_key(model, [x], precision_policy=a)[0] != cache_key(model, [x], precision_policy=None)[0]


def test_clear_cache_removes_only_its_own_entries(tmp_path, builds):
    model, x = small(), torch.randn(2, 4)
    trtgraph.compile(model, [x], cache_dir=tmp_path)
    (key,) = keys_in(tmp_path)
    entry = tmp_path / f"{key}.engine"
    # the user's own files, one of them named like an entry but with another sidecar
    mine = tmp_path / "my.engine"
    mine.write_bytes(b"user plan")
    ser.sidecar_path(mine).write_text("{}")
    lookalike = tmp_path / ("0" * 64 + ".engine")
    lookalike.write_bytes(b"user plan")
    ser.sidecar_path(lookalike).write_text(json.dumps({"extra": {"cache_key": "1" * 64}}))
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    assert clear_cache(tmp_path) == 1
    assert not entry.exists() and not ser.sidecar_path(entry).exists()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["my.engine", "my.engine.json", lookalike.name, lookalike.name + ".json", "notes.txt"])


def _unwritable_folder(tmp_path) -> Path:
    """A cache folder that cannot be written, also for root (for whom chmod does not block writes)."""
    if os.geteuid() == 0:
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        return blocker / "cache"
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


def test_unwritable_cache_folder_warns_before_building(tmp_path, monkeypatch):
    folder = _unwritable_folder(tmp_path)
    seen_at_build = []
    original = trtgraph.api.Conversion.build

    def build(self, *args, **kwargs):
        seen_at_build.append([str(w.message) for w in caught])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(trtgraph.api.Conversion, "build", build)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = trtgraph.compile(small(), [torch.randn(2, 4)], cache_dir=folder)
    finally:
        if folder.is_dir():
            folder.chmod(0o700)
    (before,) = seen_at_build
    assert any("cannot write to the cache folder" in m and str(folder) in m and "TRTGRAPH_CACHE_DIR" in m
               for m in before), before
    assert module.cache_hit is None and module.cache_path is None
    assert len(bytes(module.engine_bytes)) > 0


def test_size_limit_evicts_the_least_recently_used(tmp_path, builds):
    x = torch.randn(2, 4)
    a, b, c = small(4), small(4), small(4)
    for i, m in enumerate((b, c)):
        with torch.no_grad():
            m[0].bias.add_(i + 1)
    first = trtgraph.compile(a, [x], cache_dir=tmp_path)
    (key,) = keys_in(tmp_path)
    limit = int(size_of(tmp_path, key) * 2.5)  # room for two entries of this size, not three
    time.sleep(0.05)
    trtgraph.compile(b, [x], cache_dir=tmp_path, cache_max_bytes=limit)
    time.sleep(0.05)
    assert trtgraph.compile(a, [x], cache_dir=tmp_path, cache_max_bytes=limit).cache_hit is True  # a used again
    time.sleep(0.05)
    trtgraph.compile(c, [x], cache_dir=tmp_path, cache_max_bytes=limit)  # evicts b, the least recently used
    keys = keys_in(tmp_path)
    assert len(keys) == 2 and first.metadata.extra["cache_key"] in keys
    assert sum(size_of(tmp_path, k) for k in keys) <= limit
    assert trtgraph.compile(a, [x], cache_dir=tmp_path, cache_max_bytes=limit).cache_hit is True
    assert trtgraph.compile(b, [x], cache_dir=tmp_path, cache_max_bytes=limit).cache_hit is False
    assert len(builds) == 4


def test_size_limit_from_the_environment(tmp_path, builds, monkeypatch):
    x = torch.randn(2, 4)
    monkeypatch.setenv("TRTGRAPH_CACHE_MAX_BYTES", "0")  # keep only the newest entry
    trtgraph.compile(small(), [x], cache_dir=tmp_path)
    newest = trtgraph.compile(small(), [torch.randn(3, 4)], cache_dir=tmp_path)
    assert keys_in(tmp_path) == [newest.metadata.extra["cache_key"]]
    monkeypatch.setenv("TRTGRAPH_CACHE_MAX_BYTES", "lots")
    with pytest.raises(trtgraph.InputError, match="TRTGRAPH_CACHE_MAX_BYTES='lots'"):
        trtgraph.compile(small(), [x], cache_dir=tmp_path)
    monkeypatch.setenv("TRTGRAPH_CACHE_MAX_BYTES", "1K")
    assert trtgraph.cache.max_cache_bytes() == 1024


def test_cache_list_and_clear_commands(tmp_path, builds, capsys):
    x = torch.randn(2, 4)
    one = trtgraph.compile(small(), [x], cache_dir=tmp_path)
    trtgraph.compile(small(), [x], precision="fp16", cache_dir=tmp_path)
    (tmp_path / "mine.engine").write_bytes(b"user plan")
    assert main(["cache", "list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 engines" in out and one.metadata.extra["cache_key"][:16] in out
    assert "fp16" in out and "input_0 float32 (2, 4)" in out and "mine" not in out
    assert main(["cache", "clear", "--dir", str(tmp_path)]) == 0
    assert "removed 2 cached engines" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["mine.engine"]
