"""Hybrid folders (issue 13, items 4 and 6): save/load without pickle, strict validation of
hybrid.json, ``trtgraph.load`` / ``trtgraph info`` on a folder, the command line with ``--fallback``,
and the engine cache for ``compile(..., fallback=True)``.

Engines cannot run here, so the round trip is proven on the CPU this way: the loaded module's torch
program (steps, constants, module tensors, names, pytree specs) comes only from the folder; its
segments are evaluated through the reference evaluator with the networks of the original
conversion (``attach_segments``, which first checks them against the loaded engines' sidecars), and
the loaded engine bytes are compared with the built ones."""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import signal

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import trtgraph
from trtgraph import cache
from trtgraph.cli import main
from trtgraph.errors import (DisallowedOpError, EngineFormatError, EngineIntegrityError, HybridSchemaError, InputError,
                             MissingPythonFunctionError, NotARegularFileError, TrtGraphError)
from trtgraph.hybrid import HybridModule, HybridWarning
from trtgraph.hybrid import files

from test_hybrid import Masked, Square, block  # noqa: E402 - the models the core tests use

FN_NAME = f"{Square.__module__}.Square"  # how a saved program names the custom Function


class Mixed(torch.nn.Module):
    """A CNN with, between its TensorRT blocks: a custom autograd.Function, an op without a handler
    (lgamma), a module kept in torch (``mid``: its weights are read by a torch step), a bf16 buffer
    and a plain tensor attribute (a constant tensor in the trace) read by torch steps."""

    def __init__(self):
        super().__init__()
        self.block1, self.mid, self.block2 = block(3, 8), torch.nn.Conv2d(8, 8, 1), block(8, 8)
        self.register_buffer("scale", (torch.rand(1, 8, 1, 1) + 0.5).to(torch.bfloat16))
        self.offset = torch.linspace(0.5, 1.5, 8).view(1, 8, 1, 1)  # not a buffer: a trace constant

    def forward(self, x):
        y = Square.apply(self.mid(self.block1(x)), 0.5)
        y = torch.lgamma(y * self.scale + self.offset)
        return self.block2(y), y.argmax(1)


def mixed_model():
    torch.manual_seed(0)
    m = Mixed().eval()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return m


OPTIONS = {"torch_executed_modules": ["mid"], "torch_executed_ops": ["aten::mul"]}
X = torch.randn(1, 3, 10, 10, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = mixed_model()
    hc = trtgraph.convert(model, [X], fallback=True, **OPTIONS)
    folder = files.save_hybrid(hc, tmp_path_factory.mktemp("hybrid") / "mixed.hybrid")
    return model, hc, folder


@pytest.fixture(scope="module")
def saved_masked(tmp_path_factory):
    torch.manual_seed(0)
    hc = trtgraph.convert(Masked().eval(), [torch.randn(1, 3, 8, 8)], fallback=True)
    return files.save_hybrid(hc, tmp_path_factory.mktemp("hybrid") / "masked.hybrid")


@pytest.fixture(scope="module")
def saved_scripted(tmp_path_factory):
    """Scripted code in the middle: a prim::If step whose block holds a prim::Loop."""
    from test_hybrid import Scripted, _model

    model = _model(Scripted)
    hc = trtgraph.convert(model, [X], fallback=True)
    return model, hc, files.save_hybrid(hc, tmp_path_factory.mktemp("hybrid") / "scripted.hybrid")


def _copy(folder, tmp_path):
    dst = tmp_path / "copy.hybrid"
    shutil.copytree(folder, dst)
    return dst


def _doc(folder):
    return json.loads((folder / files.PROGRAM_FILE).read_text())


def _write(folder, doc):
    (folder / files.PROGRAM_FILE).write_text(json.dumps(doc))


def _plain(obj):
    """Comparable data: tensors as (tag, dtype, shape, bytes), tuples tagged apart from lists."""
    if isinstance(obj, torch.Tensor):
        return ("tensor", str(obj.dtype), tuple(obj.shape), files.tensor_bytes(obj))
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return ("tuple", [_plain(v) for v in obj])
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _leaves(obj):
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _leaves(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _leaves(v)]
    if isinstance(obj, tuple) and obj and obj[0] == "tuple":
        return _leaves(obj[1])
    return [obj]


def _load(folder):
    return files.load_hybrid(folder, python_functions={FN_NAME: Square})


# --------------------------------------------------------------------------- round trip

def test_save_load_round_trip_gives_the_same_evaluation(saved):
    model, hc, folder = saved
    doc = _doc(folder)
    dtypes = {e["dtype"] for e in doc["tensors"].values()}
    assert "bfloat16" in dtypes and set(doc["params"]) >= {"mid.weight", "mid.bias", "scale"}
    assert doc["python_functions"] == [FN_NAME]
    loaded = trtgraph.load(folder, python_functions={FN_NAME: Square})
    assert isinstance(loaded, HybridModule)
    # the program, as data, is the original one
    assert _plain([s.to_dict() for s in loaded.steps]) == _plain([s.to_dict() for s in hc.steps])
    assert _plain(loaded.outputs) == _plain(hc.partition.outputs)
    assert any(isinstance(x, tuple) and x[0] == "tensor" for x in _leaves(_plain([s.to_dict() for s in hc.steps])))
    assert loaded.user_input_names == hc.input_names and loaded.output_names == hc.output_names
    assert loaded.structure.in_spec == hc.structure.in_spec and loaded.structure.out_spec == hc.structure.out_spec
    scale = loaded._attr("scale")
    assert scale.dtype == torch.bfloat16 and torch.equal(scale, model.scale)
    assert torch.equal(loaded._attr("mid.weight"), model.mid.weight.detach())
    assert [bytes(e.engine_bytes) for e in loaded.engines] == [bytes(memoryview(e)) for e in hc.build()]
    with pytest.raises(TrtGraphError):  # without the segments' networks: a named error
        loaded.evaluate(X)
    files.attach_segments(loaded, hc.segments)
    for x in (X, torch.randn(1, 3, 10, 10) * 2):
        got, want = loaded.evaluate(x), hc.evaluate(x)
        assert len(got) == len(want) == 2
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and torch.equal(g, w)
        with torch.no_grad():
            eager = model(x)
        assert float((got[0] - eager[0]).abs().max() / eager[0].abs().max()) < 1e-3
        assert torch.equal(got[1], eager[1])


def test_a_loaded_module_saves_the_same_folder(saved, tmp_path):
    _, _, folder = saved
    again = files.save_hybrid(_load(folder), tmp_path / "again.hybrid")
    a, b = _doc(folder), _doc(again)
    a.pop("created"), b.pop("created")
    assert a == b
    for name in ["segment_0.engine", "segment_1.engine"] + [e["file"] for e in a["tensors"].values()]:
        assert (folder / name).read_bytes() == (again / name).read_bytes()


class Nested(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = block(3, 4), block(4, 4)

    def forward(self, x):
        y = self.a(x)
        return [{"features": self.b(torch.lgamma(y + 1.5)), "labels": y.argmax(1)}]


def test_nested_outputs_round_trip(tmp_path):
    torch.manual_seed(0)
    model = Nested().eval()
    hc = trtgraph.convert(model, [X], fallback=True)
    loaded = trtgraph.load(files.save_hybrid(hc, tmp_path / "n.hybrid"))
    assert loaded.structure.wrapped and loaded.output_names == ["0.features", "0.labels"]
    files.attach_segments(loaded, hc.segments)
    got, want = loaded.evaluate(X), hc.evaluate(X)
    assert isinstance(got, list) and set(got[0]) == {"features", "labels"}
    assert torch.equal(got[0]["features"], want[0]["features"]) and torch.equal(got[0]["labels"], want[0]["labels"])


def test_scripted_control_flow_round_trip(saved_scripted, tmp_path):
    model, hc, folder = saved_scripted
    ops = json.dumps(_doc(folder)["steps"])
    assert '"prim::If"' in ops and '"prim::Loop"' in ops
    loaded = trtgraph.load(folder)
    files.attach_segments(loaded, hc.segments)
    for x in (X, torch.randn(1, 3, 10, 10)):
        got, want = loaded.evaluate(x), hc.evaluate(x)
        assert all(torch.equal(g, w) for g, w in zip(got, want))
        with torch.no_grad():
            eager = model(x)
        assert float((got[0] - eager).abs().max() / eager.abs().max()) < 1e-3

    def drop_loop_output(d):  # the loop's block returns one value fewer than the loop binds
        step = next(s for s in d["steps"] if s.get("op") == "prim::If")
        loop = next(s for b in step["blocks"] for s in b["steps"] if s["op"] == "prim::Loop")
        loop["blocks"][0]["outputs"].pop()

    with pytest.raises(HybridSchemaError, match="block output"):
        _mutate_and_load(_copy(folder, tmp_path), drop_loop_output)


def test_outside_the_profile_the_saved_torch_program_runs(tmp_path):
    """More rows pass the mask than the head's profile allows (``dynamic_max=1``: the profile ends at the
    example's count), so the segment runs as torch ops -- in the loaded module from the torch program in
    the folder."""
    torch.manual_seed(0)
    model = Masked().eval()
    x = torch.randn(1, 3, 8, 8)
    hc = trtgraph.convert(model, [x], fallback=True, dynamic_max=1)
    (_, _, hi), = hc.segments[-1].profiles.values()
    more = next(c for c in (torch.randn(1, 3, 8, 8) * s for s in (1, 2, 3, 5, 8) for _ in range(5))
                if model(c)[0].shape[0] > hi[0])
    loaded = trtgraph.load(files.save_hybrid(hc, tmp_path / "m.hybrid"))
    assert [e.program is not None for e in loaded.eager_segments] == [False, True]
    assert "l1.weight" in _doc(tmp_path / "m.hybrid")["params"]
    files.attach_segments(loaded, hc.segments)
    with pytest.warns(HybridWarning):
        want = hc.evaluate(more)
    with pytest.warns(HybridWarning):
        got = loaded.evaluate(more)
    assert got[0].shape[0] > hi[0] and all(torch.equal(g, w) for g, w in zip(got, want))
    for g, w in zip(loaded.evaluate(x), hc.evaluate(x)):
        assert torch.equal(g, w)
    none = trtgraph.load(files.save_hybrid(hc, tmp_path / "n.hybrid", eager="none"))
    files.attach_segments(none, hc.segments)
    with pytest.raises(InputError, match="holds no torch program"), pytest.warns(HybridWarning):
        none.evaluate(more)


def test_round_trip_weights_come_from_the_folder(saved, tmp_path):
    """Edited weights (with a matching SHA-256) change the loaded evaluation: the torch steps really read
    the folder's tensors, so the test above can fail."""
    _, hc, folder = saved
    folder = _copy(folder, tmp_path)
    doc = _doc(folder)
    tid = doc["params"]["mid.bias"]
    entry = doc["tensors"][tid]
    t = torch.full(entry["shape"], 3.0)
    data = files.tensor_bytes(t)
    (folder / entry["file"]).write_bytes(data)
    entry["sha256"] = trtgraph.serialization.sha256_hex(data)
    _write(folder, doc)
    loaded = _load(folder)
    files.attach_segments(loaded, hc.segments)
    assert not torch.equal(loaded.evaluate(X)[0], hc.evaluate(X)[0])


def test_constants_round_trip():
    w = files._Writer()
    values = [None, True, 3, -2.5, float("inf"), float("-inf"), "floor", [1, [2, 3]], (1, (2.0, None)),
              torch.device("cpu"), torch.float16, torch.arange(6, dtype=torch.int32).view(2, 3)]
    enc = json.loads(json.dumps([w.const(v, "test") for v in values], allow_nan=False))
    tensors = {tid: t for tid, t in w.tensors.items()}
    loader = files._Loader({}, "test", lambda tid, field: tensors[tid])
    got = [loader.const(e, "c") for e in enc]
    assert got[:10] == values[:10] and got[10] is torch.float16 and torch.equal(got[11], values[11])
    nan = loader.const(json.loads(json.dumps(w.const(float("nan"), "t"))), "c")
    assert math.isnan(nan)
    with pytest.raises(TrtGraphError):
        w.const(object(), "test")


def test_missing_python_function_is_named(saved):
    _, _, folder = saved
    with pytest.raises(MissingPythonFunctionError) as exc:
        trtgraph.load(folder)
    assert exc.value.missing == [FN_NAME] and FN_NAME in str(exc.value)
    assert isinstance(_load(folder), HybridModule)  # a Function class is accepted (its .apply runs)


# --------------------------------------------------------------------------- tampering

def _mutate_and_load(folder, edit):
    doc = _doc(folder)
    edit(doc)
    _write(folder, doc)
    return _load(folder)


def _first_torch(doc, op=None):
    return next(s for s in doc["steps"] if s["kind"] == "torch" and (op is None or s["op"] == op))


@pytest.mark.parametrize("edit, error, field", [
    (lambda d: d["steps"][0].__setitem__("kind", "shell"), HybridSchemaError, "steps[0].kind"),
    (lambda d: _first_torch(d)["args"].__setitem__(0, ["v", "nowhere"]), HybridSchemaError, None),
    (lambda d: _first_torch(d).__setitem__("op", "os::system"), DisallowedOpError, None),
    (lambda d: _first_torch(d).__setitem__("op", "aten::no_such_op_xyz"), DisallowedOpError, None),
    (lambda d: _first_torch(d)["args"].__setitem__(1, ["a", "not.a.param"]), HybridSchemaError, None),
    (lambda d: d["steps"].pop(0), HybridSchemaError, None),
    (lambda d: d.__setitem__("format_version", "1"), HybridSchemaError, "format_version"),
    (lambda d: d["tensors"][next(iter(d["tensors"]))].__setitem__("file", "../hybrid.json"), HybridSchemaError, None),
    (lambda d: d["segments"][0].__setitem__("engine", "/etc/passwd"), HybridSchemaError, None),
    (lambda d: d.__setitem__("extra_key", 1), HybridSchemaError, "extra_key"),
])
def test_tampered_program_is_refused(saved, tmp_path, edit, error, field):
    folder = _copy(saved[2], tmp_path)
    with pytest.raises(error) as exc:
        _mutate_and_load(folder, edit)
    if field is not None:
        assert exc.value.field == field


def test_bad_tensor_files_are_refused(saved, tmp_path):
    folder = _copy(saved[2], tmp_path)
    doc = _doc(folder)
    path = folder / doc["tensors"][doc["params"]["scale"]]["file"]
    good = path.read_bytes()
    path.write_bytes(good[:-2])
    with pytest.raises(EngineFormatError, match="bytes"):
        _load(folder)
    path.write_bytes(bytes([good[0] ^ 1]) + good[1:])
    with pytest.raises(EngineIntegrityError):
        _load(folder)
    path.unlink()
    with pytest.raises(EngineFormatError, match="no such tensor file"):
        _load(folder)
    (tmp_path / "elsewhere.bin").write_bytes(good)
    path.symlink_to(tmp_path / "elsewhere.bin")
    with pytest.raises(NotARegularFileError, match="symbolic link"):
        _load(folder)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(NotARegularFileError):
        _load(folder)
    path.unlink()
    path.write_bytes(good)
    (folder / "segment_1.engine").unlink()
    with pytest.raises(EngineFormatError, match="no such engine file"):
        _load(folder)


SETTINGS = settings(max_examples=int(os.environ.get("TRTGRAPH_FUZZ_EXAMPLES", "40")), deadline=3000,
                    derandomize=os.environ.get("TRTGRAPH_FUZZ_RANDOM") != "1", database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


def _paths(d, prefix=()):
    out = []
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else ()
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(_paths(v, prefix + (k,)))
    return out


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=False),
                 st.text(max_size=12), st.lists(st.integers(-3, 3), max_size=3),
                 st.sampled_from([["v", "x"], ["a", "scale"], ["c", {"tensor": "t0"}], ["l", []], {"tuple": [1]},
                                  {"kind": "segment", "index": 0, "inputs": [], "outputs": []}, "aten::relu",
                                  "prim::PythonOp", {"float": "inf"}, {}, []]))


@contextlib.contextmanager
def _time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _outcome(folder):
    with _time_limit(10):
        try:
            _load(folder)
        except TrtGraphError as exc:
            return exc
        out = io.StringIO()
        with contextlib.redirect_stdout(out):  # trtgraph info on the same folder: no crash either
            code = main(["info", str(folder), "--no-inspect"])
        assert code in (0, 1)
    return None


@SETTINGS
@given(data=st.data())
def test_fuzz_program_structure(saved, saved_masked, saved_scripted, tmp_path_factory, data):
    """Structure-aware mutations of hybrid.json: any outcome is a load or a TrtGraphError."""
    folder = tmp_path_factory.mktemp("fz") / "m.hybrid"
    shutil.copytree(data.draw(st.sampled_from([saved[2], saved_masked, saved_scripted[2]])), folder)
    doc = _doc(folder)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JUNK)
    _write(folder, doc)
    _outcome(folder)


@SETTINGS
@given(data=st.data())
def test_fuzz_program_text(saved, tmp_path_factory, data):
    """Raw byte edits of hybrid.json (truncation, flips, insertions)."""
    folder = tmp_path_factory.mktemp("fz") / "m.hybrid"
    shutil.copytree(saved[2], folder)
    raw = bytearray((folder / files.PROGRAM_FILE).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[i] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del raw[i:i + data.draw(st.integers(1, 40))]
        else:
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        if not raw:
            raw = bytearray(b"{")
    (folder / files.PROGRAM_FILE).write_bytes(bytes(raw))
    _outcome(folder)


# --------------------------------------------------------------------------- info, command line, cache

def test_info_on_a_hybrid_folder(saved, capsys):
    _, hc, folder = saved
    assert main(["info", str(folder), "--no-inspect"]) == 0
    out = capsys.readouterr().out
    assert "segment 0: segment_0.engine" in out and "segment 1: segment_1.engine" in out
    assert "no handler for aten::lgamma" in out and "torch_executed_modules" in out
    assert f"boundary     {hc.plan['boundary_tensors']} tensor(s)" in out
    assert "check segment 0 integrity: ok" in out
    assert main(["info", str(folder), "--no-inspect", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["boundary_tensors"] == hc.plan["boundary_tensors"] and len(report["segments"]) == 2


def test_symlinked_folder_and_non_hybrid_folder(saved, tmp_path):
    link = tmp_path / "link.hybrid"
    link.symlink_to(saved[2], target_is_directory=True)
    with pytest.raises(NotARegularFileError, match="symbolic link"):
        trtgraph.load(link, python_functions={FN_NAME: Square})
    with pytest.raises(EngineFormatError):
        trtgraph.load(tmp_path)  # a folder without hybrid.json


def test_cli_convert_check_ops_with_fallback(tmp_path, capsys):
    out = tmp_path / "m.hybrid"
    assert main(["convert", "test_hybrid_files:mixed_model", "--input", "1x3x10x10", "--fallback",
                 "--torch-executed-modules", "mid", "--torch-executed-ops", "aten::mul", "-o", str(out),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "TensorRT segments  2" in text and str(out) in text and FN_NAME in text
    module = trtgraph.load(out, python_functions={FN_NAME: Square})
    assert isinstance(module, HybridModule) and len(module.engines) == 2
    assert main(["check", "test_hybrid_files:mixed_model", "--input", "1x3x10x10", "--fallback", "--quiet"]) == 0
    assert "MISMATCH" not in capsys.readouterr().out
    assert main(["ops", "test_hybrid_files:mixed_model", "--input", "1x3x10x10", "--fallback",
                 "--torch-executed-modules", "mid", "--min-block-size", "2"]) == 0  # 2: mul+add form a segment
    plan = capsys.readouterr().out
    assert "hybrid plan: 3 TensorRT segment(s)" in plan and "module 'mid' is in torch_executed_modules" in plan
    assert main(["ops", "test_hybrid_files:mixed_model", "--input", "1x3x10x10", "--min-block-size", "2"]) == 2
    assert "needs --fallback" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    assert main(["convert", "test_hybrid_files:mixed_model", "--input", "1x3x10x10", "--fallback", "-o",
                 str(tmp_path / "busy"), "--quiet"]) == 2
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_cli_check_fallback_reports_a_mismatch(capsys):
    code = main(["check", "test_hybrid_files:mixed_model", "--input", "1x3x10x10", "--fallback", "--quiet",
                 "--rtol", "-1", "--atol", "-1"])
    assert code == 1


def test_compile_fallback_uses_the_cache(tmp_path, capsys):
    model = mixed_model()
    (tmp_path / "user.txt").write_text("not trtgraph's")
    first = trtgraph.compile(model, [X], fallback=True, cache_dir=tmp_path, **OPTIONS)
    assert isinstance(first, HybridModule) and first.cache_hit is False
    second = trtgraph.compile(model, [X], fallback=True, cache_dir=tmp_path, **OPTIONS)
    assert second.cache_hit is True and second.cache_path == first.cache_path
    assert [bytes(e.engine_bytes) for e in second.engines] == [bytes(e.engine_bytes) for e in first.engines]
    entries = cache.cache_entries(tmp_path)
    assert len(entries) == 1 and entries[0].path.name.endswith(".hybrid")
    other = trtgraph.compile(model, [X], fallback=True, cache_dir=tmp_path, torch_executed_modules=["mid"])
    assert other.cache_hit is False and other.cache_path != first.cache_path  # the options are in the key
    assert main(["cache", "list", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("hybrid, 2 segment(s)") == 2
    assert trtgraph.clear_cache(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["user.txt"]
