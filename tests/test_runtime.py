"""TRTModule, saving/loading (engine + JSON sidecar), state_dict without pickle, the engine cache and
``trtgraph info``. Engines are really built (TensorRT-RTX builds on the CPU); they cannot run on
any machine here, so execution is covered up to TensorRT's calls, and those calls are checked
against a recording fake context."""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import pickle

import pytest
import torch

import trtgraph
from trtgraph import runtime, serialization as ser
from trtgraph.backend import trt


class Two(torch.nn.Module):
    """Two inputs, two outputs."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, a, b):
        return torch.relu(self.lin(a) + b), a * 2


class AddConst(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c  # a plain tensor attribute: traced as a graph constant

    def forward(self, x):
        return x + self.c


def small():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    model = Two().eval()
    a, b = torch.randn(2, 4), torch.randn(2, 4)
    conv = trtgraph.convert(model, [a, b], input_names=["a", "b"], output_names=["sum", "double"])
    engine = conv.build()
    return model, conv, engine


@pytest.fixture
def saved(built, tmp_path):
    _, conv, _ = built
    return trtgraph.save_engine(conv, tmp_path / "two.engine")


def edit_sidecar(path, fn):
    side = ser.sidecar_path(path)
    d = json.loads(side.read_text())
    fn(d)
    side.write_text(json.dumps(d))


def has_engine_validity() -> bool:
    return hasattr(trt().Runtime, "get_engine_validity")


# --------------------------------------------------------------------------- save / load

def test_save_load_round_trip(built, saved):
    model, conv, engine = built
    assert saved.read_bytes() == engine                       # the plan itself, byte for byte
    side = json.loads(ser.sidecar_path(saved).read_text())
    assert side["format"] == "trtgraph-engine" and side["format_version"] == 1
    assert side["engine_sha256"] == hashlib.sha256(engine).hexdigest()
    assert side["engine_size"] == len(engine)
    assert side["tensorrt"] == ser.tensorrt_identity()
    assert side["tensorrt"]["version"] == trtgraph.backend.version()
    assert side["tensorrt"]["flavour"] == trtgraph.backend.flavour()
    assert side["trtgraph_version"] == trtgraph.__version__
    assert side["precision"] == "fp32"
    assert side["model_hash"] == ser.model_hash(model, conv.graph.torch_graph)
    assert [i["name"] for i in side["inputs"]] == ["a", "b"]
    assert side["inputs"][0] == {"name": "a", "shape": [2, 4], "dtype": "float32",
                                 "profile": {"min": [2, 4], "opt": [2, 4], "max": [2, 4]}}
    assert side["outputs"] == [{"name": "sum", "shape": [2, 4], "dtype": "float32"},
                               {"name": "double", "shape": [2, 4], "dtype": "float32"}]
    assert not list(saved.parent.glob(".*.tmp"))             # atomic writes leave no temporary files

    module = trtgraph.load(saved)
    assert isinstance(module, trtgraph.TRTModule) and isinstance(module, torch.nn.Module)
    assert module.input_names == ["a", "b"] and module.output_names == ["sum", "double"]
    assert module.metadata.to_dict() == side
    assert bytes(module.engine_bytes) == engine
    assert not module.is_loaded                               # deserialization is lazy
    assert "a float32 (2, 4)" in repr(module) and "fp32" in repr(module)
    # the sidecar path works too, and so does saving a TRTModule again
    assert trtgraph.load(str(saved) + ".json").metadata.engine_sha256 == side["engine_sha256"]
    again = trtgraph.save_engine(module, saved.parent / "again.engine")
    assert again.read_bytes() == engine
    assert json.loads(ser.sidecar_path(again).read_text()) == side


def test_trtmodule_construction(built, saved):
    _, conv, engine = built
    meta = ser.read_metadata(saved)
    for m in (meta, meta.to_dict(), meta.to_json()):
        module = trtgraph.TRTModule(engine, m)
        assert module.input_names == ["a", "b"]
        assert module.metadata.engine_sha256 == hashlib.sha256(engine).hexdigest()
    from_path = trtgraph.TRTModule(saved)                     # the sidecar is picked up
    assert from_path.output_names == ["sum", "double"] and from_path.source_path == str(saved)
    raw = trtgraph.TRTModule(engine)                          # a raw plan: metadata comes from the engine
    assert raw.metadata is None and "raw plan" in repr(raw)
    with pytest.raises(trtgraph.GpuUnavailableError):
        raw.input_names                                       # needs deserialization -> a GPU
    empty = trtgraph.TRTModule()
    assert repr(empty) == "TRTModule(empty)"
    with pytest.raises(trtgraph.EngineFormatError, match="holds no engine"):
        empty.load_engine()
    # pickling drops the TensorRT objects but keeps the plan and metadata
    clone = pickle.loads(pickle.dumps(trtgraph.TRTModule(engine, meta)))
    assert bytes(clone.engine_bytes) == engine and clone.metadata == meta


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(trtgraph.EngineFormatError, match="truncated"):
        trtgraph.load(saved)
    saved.write_bytes(b"")
    with pytest.raises(trtgraph.EngineFormatError, match="truncated"):
        trtgraph.load(saved)


def test_flipped_bytes(saved):
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(trtgraph.EngineIntegrityError, match="SHA-256"):
        trtgraph.load(saved)
    with pytest.raises(trtgraph.EngineIntegrityError):
        trtgraph.TRTModule(saved)


def test_corrupted_header_is_malformed(saved):
    """A corrupted plan header whose sidecar was made to agree: TensorRT-RTX's header check refuses it."""
    if not has_engine_validity():
        pytest.skip("standard TensorRT has no Runtime.get_engine_validity")
    data = bytearray(saved.read_bytes())
    data[0] ^= 0xFF                                            # the plan's magic
    saved.write_bytes(bytes(data))
    edit_sidecar(saved, lambda d: d.update(engine_sha256=hashlib.sha256(data).hexdigest()))
    with pytest.raises(trtgraph.EngineFormatError, match="malformed"):
        trtgraph.load(saved)


@pytest.mark.parametrize("content", [os.urandom(4096), b"hello, this is a text file\n" * 20, b"\0"])
def test_foreign_file(tmp_path, content):
    path = tmp_path / "foreign.engine"
    path.write_bytes(content)
    with pytest.raises(trtgraph.EngineFormatError, match="no sidecar"):
        trtgraph.load(path)
    if has_engine_validity():                                  # no sidecar, but the header check still refuses it
        with pytest.raises(trtgraph.EngineFormatError, match="malformed"):
            trtgraph.TRTModule(path)
    with pytest.raises(trtgraph.EngineFormatError, match="no such engine file"):
        trtgraph.load(tmp_path / "missing.engine")


def test_foreign_file_with_a_sidecar(saved):
    saved.write_bytes(os.urandom(1000))
    with pytest.raises(trtgraph.EngineFormatError, match="1000 bytes"):
        trtgraph.load(saved)


@pytest.mark.parametrize("sidecar, match", [
    (b"\x89PNG\r\n\x1a\n", "not UTF-8|not valid JSON"),
    (b"not json at all", "not valid JSON"),
    (b"[1, 2, 3]", "expected a JSON object"),
    (b'{"format": "onnx"}', "not a trtgraph engine sidecar"),
    (b'{"format": "trtgraph-engine", "format_version": 1}', "missing key 'inputs'"),
])
def test_bad_sidecar(saved, sidecar, match):
    ser.sidecar_path(saved).write_bytes(sidecar)
    with pytest.raises(trtgraph.EngineFormatError, match=match):
        trtgraph.load(saved)


def test_sidecar_hash_mismatch(saved):
    edit_sidecar(saved, lambda d: d.update(engine_sha256="0" * 64))
    with pytest.raises(trtgraph.EngineIntegrityError, match="does not match"):
        trtgraph.load(saved)
    edit_sidecar(saved, lambda d: d.update(engine_sha256="xyz"))
    with pytest.raises(trtgraph.EngineFormatError, match="not a SHA-256"):
        trtgraph.load(saved)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["tensorrt"].update(version="10.0.0.1"), "built by tensorrt_rtx 10.0.0.1"),
    (lambda d: d["tensorrt"].update(family="tensorrt" if d["tensorrt"]["family"] != "tensorrt" else "tensorrt_rtx"),
     "only load in the TensorRT they were built with"),
    (lambda d: d.update(format_version=99), "newer trtgraph"),
])
def test_version_or_flavour_mismatch(saved, edit, match):
    if ser.tensorrt_identity()["family"] == "tensorrt" and "tensorrt_rtx 10" in match:
        match = "built by tensorrt 10.0.0.1"
    edit_sidecar(saved, edit)
    with pytest.raises(trtgraph.EngineVersionError, match=match):
        trtgraph.load(saved)


def test_errors_are_trtgraph_errors():
    for cls in (trtgraph.EngineFormatError, trtgraph.EngineIntegrityError, trtgraph.EngineVersionError):
        assert issubclass(cls, trtgraph.EngineLoadError) and issubclass(cls, trtgraph.TrtGraphError)
    for cls in (trtgraph.InputCountError, trtgraph.InputShapeError, trtgraph.InputDtypeError,
                trtgraph.InputDeviceError):
        assert issubclass(cls, trtgraph.InputError)
    assert issubclass(trtgraph.GpuUnavailableError, trtgraph.TrtGraphError)


# --------------------------------------------------------------------------- inputs and execution

def test_input_validation(saved):
    module = trtgraph.load(saved)
    a, b = torch.randn(2, 4), torch.randn(2, 4)
    assert module.validate_inputs((a, b)) == [a, b]
    assert module.validate_inputs(([a, b],)) == [a, b]       # a list as the single argument
    cases = [
        ((a,), trtgraph.InputCountError, None, "1 input\\(s\\) given; the engine takes 2"),
        ((a, b, b), trtgraph.InputCountError, None, "3 input"),
        ((a, torch.randn(3, 4)), trtgraph.InputShapeError, "b", "'b' has shape \\(3, 4\\).*static shape \\(2, 4\\)"),
        ((torch.randn(2, 4, 1), b), trtgraph.InputShapeError, "a", "'a' .*rank 3.*expects rank 2"),
        ((a, b.half()), trtgraph.InputDtypeError, "b", "'b' has dtype float16; the engine expects float32"),
        ((a.long(), b), trtgraph.InputDtypeError, "a", "'a' has dtype int64"),
        (([1.0] * 4, b), trtgraph.InputDtypeError, "a", "'a' is a list"),
    ]
    for inputs, cls, name, match in cases:
        with pytest.raises(cls, match=match) as info:
            module(*inputs)                                   # validation comes before any GPU work
        assert info.value.input_name == name


def test_input_validation_with_a_profile(built):
    _, _, engine = built
    meta = ser.EngineMetadata.from_dict(json.loads(ser.metadata_from_conversion(built[1], engine).to_json()))
    spec = meta.inputs[0]
    spec.shape, spec.min, spec.opt, spec.max = (-1, 4), (1, 4), (4, 4), (8, 4)
    module = trtgraph.TRTModule(engine, meta)
    b = torch.randn(2, 4)
    for n in (1, 5, 8):
        module.validate_inputs((torch.randn(n, 4), b))
    with pytest.raises(trtgraph.InputShapeError, match=r"'a' has shape \(9, 4\), outside the engine's optimization "
                                                       r"profile \(min \(1, 4\), opt \(4, 4\), max \(8, 4\)\)"):
        module(torch.randn(9, 4), b)
    spec.min = spec.opt = spec.max = None                     # no profile known: static dimensions must match
    with pytest.raises(trtgraph.InputShapeError, match="dimension 1 differs"):
        module(torch.randn(3, 5), b)
    module.validate_inputs((torch.randn(30, 4), b))


def test_no_gpu_error_on_forward(saved, monkeypatch):
    module = trtgraph.load(saved)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(trtgraph.GpuUnavailableError, match="CUDA is not available"):
        module(torch.randn(2, 4), torch.randn(2, 4))
    with pytest.raises(trtgraph.GpuUnavailableError):
        module.load_engine()
    assert not module.is_loaded


def test_no_usable_gpu_reports_tensorrt_diagnostics(saved, monkeypatch):
    """CUDA reported available, but TensorRT cannot use the GPU: the error carries its messages."""
    if torch.cuda.is_available():
        pytest.skip("a real GPU is present; this case simulates a machine where TensorRT cannot use it")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device", lambda d: contextlib.nullcontext())
    module = trtgraph.TRTModule(saved, device="cuda:0")
    with pytest.raises(trtgraph.GpuUnavailableError) as info:
        module.load_engine()
    text = str(info.value)
    assert "no usable GPU" in text and "TensorRT" in text
    assert "CUDA driver version is insufficient" in text      # TensorRT's own diagnostic, passed on
    assert not module.is_loaded


def test_input_on_the_wrong_device(saved, monkeypatch):
    module = trtgraph.load(saved)
    module._cuda_engine = object()                            # as if deserialized on cuda:0
    module._device = torch.device("cuda", 0)
    with pytest.raises(trtgraph.InputDeviceError, match="'a' is on cpu; the engine runs on cuda:0") as info:
        module(torch.randn(2, 4), torch.randn(2, 4))
    assert info.value.input_name == "a"


class FakeContext:
    """Records the name-based API calls; output shapes as TensorRT would report them."""

    def __init__(self, out_shapes, refuse_shape=False, fail_execute=False):
        self.calls, self.out_shapes = [], out_shapes
        self.refuse_shape, self.fail_execute = refuse_shape, fail_execute
        self.input_shapes = {}

    def set_input_shape(self, name, shape):
        self.calls.append(("set_input_shape", name, tuple(shape)))
        self.input_shapes[name] = tuple(shape)
        return not self.refuse_shape

    def set_tensor_address(self, name, ptr):
        self.calls.append(("set_tensor_address", name, ptr))
        return True

    def get_tensor_shape(self, name):
        assert self.input_shapes, "output shapes asked before the input shapes were set"
        self.calls.append(("get_tensor_shape", name))
        return self.out_shapes[name]

    def execute_async_v3(self, stream_handle):
        self.calls.append(("execute_async_v3", stream_handle))
        return not self.fail_execute


class FakeEngine:
    def __init__(self, dtypes):
        self.dtypes = dtypes

    def get_tensor_dtype(self, name):
        return self.dtypes[name]


def test_execute_call_sequence(saved):
    t = trt()
    meta = ser.read_metadata(saved)
    a, b = torch.randn(2, 4), torch.randn(2, 4).t().contiguous().t()  # b is not contiguous
    ctx = FakeContext({"sum": (2, 4), "double": (2, 4)})
    outs = runtime.execute(FakeEngine({"sum": t.float32, "double": t.float16}), ctx, meta, [a, b], 1234, "cpu")
    assert [tuple(o.shape) for o in outs] == [(2, 4), (2, 4)]
    assert [o.dtype for o in outs] == [torch.float32, torch.float16]  # dtype from engine.get_tensor_dtype
    names = [c[:2] for c in ctx.calls]
    assert names == [("set_input_shape", "a"), ("set_tensor_address", "a"), ("set_input_shape", "b"),
                     ("set_tensor_address", "b"), ("get_tensor_shape", "sum"), ("set_tensor_address", "sum"),
                     ("get_tensor_shape", "double"), ("set_tensor_address", "double"),
                     ("execute_async_v3", 1234)]
    addresses = {c[1]: c[2] for c in ctx.calls if c[0] == "set_tensor_address"}
    assert addresses["a"] == a.data_ptr() and addresses["sum"] == outs[0].data_ptr()
    assert addresses["b"] != b.data_ptr()                     # a contiguous copy was bound
    with pytest.raises(trtgraph.InputShapeError, match="TensorRT refused shape") as info:
        runtime.execute(FakeEngine({}), FakeContext({}, refuse_shape=True), meta, [a, b], 0, "cpu")
    assert info.value.input_name == "a"
    with pytest.raises(trtgraph.EngineExecutionError, match="execute_async_v3 failed"):
        runtime.execute(FakeEngine({"sum": t.float32, "double": t.float32}),
                        FakeContext({"sum": (2, 4), "double": (2, 4)}, fail_execute=True), meta, [a, b], 0, "cpu")
    with pytest.raises(trtgraph.EngineExecutionError, match="data-dependent"):
        runtime.execute(FakeEngine({"sum": t.float32}), FakeContext({"sum": (-1, 4)}), meta, [a, b], 0, "cpu")


# --------------------------------------------------------------------------- state_dict

def test_state_dict_weights_only_round_trip(saved, tmp_path):
    module = trtgraph.load(saved)
    sd = module.state_dict()
    assert set(sd) == {"engine", "metadata"}
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.dim() == 1 for v in sd.values())
    path = tmp_path / "module.pt"
    torch.save(sd, path)
    loaded = torch.load(path, weights_only=True)
    fresh = trtgraph.TRTModule()
    result = fresh.load_state_dict(loaded)
    assert not result.missing_keys and not result.unexpected_keys
    assert bytes(fresh.engine_bytes) == saved.read_bytes()
    assert fresh.metadata.to_dict() == module.metadata.to_dict()
    assert trtgraph.TRTModule.from_state_dict(loaded).input_names == ["a", "b"]

    # inside a parent module, next to ordinary parameters
    parent = torch.nn.Sequential(torch.nn.Linear(2, 2), module)
    buf = io.BytesIO()
    torch.save(parent.state_dict(), buf)
    buf.seek(0)
    psd = torch.load(buf, weights_only=True)
    assert {"1.engine", "1.metadata", "0.weight", "0.bias"} == set(psd)
    other = torch.nn.Sequential(torch.nn.Linear(2, 2), trtgraph.TRTModule())
    other.load_state_dict(psd)
    assert other[1].metadata.engine_sha256 == module.metadata.engine_sha256


def test_state_dict_checks(saved):
    sd = trtgraph.load(saved).state_dict()
    flipped = dict(sd, engine=sd["engine"].clone())
    flipped["engine"][100] ^= 0xFF
    with pytest.raises(trtgraph.EngineIntegrityError):
        trtgraph.TRTModule().load_state_dict(flipped)
    meta = json.loads(bytes(sd["metadata"].numpy()).decode())
    meta["tensorrt"]["version"] = "0.0.1"
    other_version = dict(sd, metadata=torch.frombuffer(bytearray(json.dumps(meta).encode()), dtype=torch.uint8))
    with pytest.raises(trtgraph.EngineVersionError):
        trtgraph.TRTModule().load_state_dict(other_version)
    with pytest.raises(trtgraph.EngineFormatError, match="1-D uint8"):
        trtgraph.TRTModule().load_state_dict(dict(sd, engine=sd["engine"].float()))
    with pytest.raises(RuntimeError, match="Missing key.*metadata"):
        trtgraph.TRTModule().load_state_dict({"engine": sd["engine"]})
    assert trtgraph.TRTModule().load_state_dict({}, strict=False).missing_keys == ["engine", "metadata"]
    with pytest.raises(RuntimeError, match="Unexpected key.*extra"):
        trtgraph.TRTModule().load_state_dict(dict(sd, extra=torch.zeros(1)))
    assert trtgraph.TRTModule().state_dict() == {}


# --------------------------------------------------------------------------- model hash and cache

def test_model_hash():
    from trtgraph import frontend

    x = torch.randn(2, 4)
    m = small()
    h1 = ser.model_hash(m, frontend.trace_module(m, [x])[1])
    h2 = ser.model_hash(m, frontend.trace_module(m, [x])[1])    # a second trace: mangled class names differ
    assert h1 == h2
    with torch.no_grad():
        m[0].weight[0, 0] += 1
    assert ser.model_hash(m, frontend.trace_module(m, [x])[1]) != h1
    assert ser.model_hash(m, frontend.trace_module(m, [torch.randn(3, 4)])[1]) != \
        ser.model_hash(m, frontend.trace_module(m, [x])[1])
    # tensor constants: the graph's text shows small ones but elides larger ones as <Tensor>
    c = torch.arange(32.0).reshape(8, 4)
    c1, c2 = AddConst(c), AddConst(c.clone().index_put_((torch.tensor(7), torch.tensor(3)), torch.tensor(0.5)))
    x8 = torch.randn(8, 4)
    g1, g2 = frontend.trace_module(c1, [x8])[1], frontend.trace_module(c2, [x8])[1]
    assert "<Tensor>" in str(g1) and ser.normalized_graph_text(g1) == ser.normalized_graph_text(g2)
    assert ser.model_hash(c1, g1) != ser.model_hash(c2, g2)


@pytest.fixture
def build_counter(monkeypatch):
    calls = []
    original = trtgraph.api.Conversion.build

    def counting(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(trtgraph.api.Conversion, "build", counting)
    return calls


def test_compile_cache_hit(tmp_path, build_counter):
    model, x = small(), torch.randn(2, 4)
    first = trtgraph.compile(model, [x], cache_dir=tmp_path)
    assert first.cache_hit is False and len(build_counter) == 1
    engines = list(tmp_path.glob("*.engine"))
    assert len(engines) == 1 and ser.sidecar_path(engines[0]).exists()
    assert first.cache_path == str(engines[0])
    mtime = engines[0].stat().st_mtime_ns
    second = trtgraph.compile(model, x, cache_dir=tmp_path)
    assert second.cache_hit is True and len(build_counter) == 1   # not rebuilt
    assert engines[0].stat().st_mtime_ns == mtime
    assert bytes(second.engine_bytes) == bytes(first.engine_bytes)
    assert second.metadata.to_dict() == first.metadata.to_dict()
    # the model hash stored by compile is the one save_engine computes from the conversion's graph
    conv = trtgraph.convert(model, [x])
    assert first.metadata.model_hash == ser.model_hash(model, conv.graph.torch_graph)

    # anything in the key changes -> a new engine
    trtgraph.compile(model, [x], precision="fp16", cache_dir=tmp_path)
    trtgraph.compile(model, [torch.randn(3, 4)], cache_dir=tmp_path)
    trtgraph.compile(model, [x], cache_dir=tmp_path, input_names=["image"])
    with torch.no_grad():
        model[0].bias.add_(1)
    changed = trtgraph.compile(model, [x], cache_dir=tmp_path)
    assert changed.cache_hit is False and len(build_counter) == 5
    assert len(list(tmp_path.glob("*.engine"))) == 5
    assert not list(tmp_path.glob(".*.tmp"))
    fp16 = trtgraph.compile(model, [x], precision="fp16", cache_dir=tmp_path)
    assert fp16.cache_hit is False and fp16.metadata.precision == "fp16"      # bias changed since
    assert trtgraph.clear_cache(tmp_path) == 6 and not list(tmp_path.iterdir())


def test_compile_without_cache(tmp_path, build_counter, monkeypatch):
    model, x = small(), torch.randn(2, 4)
    a = trtgraph.compile(model, [x], cache_dir=tmp_path, use_cache=False)
    b = trtgraph.compile(model, [x], cache_dir=tmp_path, use_cache=False)
    assert a.cache_hit is None and b.cache_hit is None and len(build_counter) == 2
    assert not list(tmp_path.iterdir())
    assert a.input_names == ["input_0"]
    monkeypatch.setenv("TRTGRAPH_NO_CACHE", "1")
    trtgraph.compile(model, [x], cache_dir=tmp_path)
    assert not list(tmp_path.iterdir()) and len(build_counter) == 3


def test_compile_default_dir_from_env(tmp_path, build_counter, monkeypatch):
    monkeypatch.setenv("TRTGRAPH_CACHE_DIR", str(tmp_path / "env-cache"))
    assert trtgraph.cache.default_cache_dir() == tmp_path / "env-cache"
    model, x = small(), torch.randn(2, 4)
    trtgraph.compile(model, [x])
    assert trtgraph.compile(model, [x]).cache_hit is True and len(build_counter) == 1
    assert len(list((tmp_path / "env-cache").glob("*.engine"))) == 1
    monkeypatch.delenv("TRTGRAPH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert trtgraph.cache.default_cache_dir() == tmp_path / "xdg" / "trtgraph"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert str(trtgraph.cache.default_cache_dir()).endswith(os.path.join(".cache", "trtgraph"))


def test_compile_rebuilds_a_bad_cache_entry(tmp_path, build_counter):
    model, x = small(), torch.randn(2, 4)
    trtgraph.compile(model, [x], cache_dir=tmp_path)
    (engine,) = tmp_path.glob("*.engine")
    data = bytearray(engine.read_bytes())
    data[len(data) // 3] ^= 0xFF
    engine.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="rebuilding a bad entry.*SHA-256"):
        module = trtgraph.compile(model, [x], cache_dir=tmp_path)
    assert module.cache_hit is False and len(build_counter) == 2
    assert trtgraph.compile(model, [x], cache_dir=tmp_path).cache_hit is True   # repaired
    assert trtgraph.load(engine).metadata.engine_sha256 == hashlib.sha256(engine.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- trtgraph info

def run_info(*argv):
    parser = argparse.ArgumentParser(prog="trtgraph")
    sub = parser.add_subparsers(dest="command", required=True)
    runtime.add_info_parser(sub)
    args = parser.parse_args(["info", *map(str, argv)])
    return args.fn(args)


def test_info(saved, capsys):
    assert run_info(saved) == 0
    out = capsys.readouterr().out
    side = json.loads(ser.sidecar_path(saved).read_text())
    here = ser.tensorrt_identity()
    for text in ("a float32 (2, 4)", "sum float32 (2, 4)", "double float32 (2, 4)", side["engine_sha256"],
                 side["model_hash"], "precision", "fp32", "check integrity", "ok (sha256",
                 f"ok ({here['family']} {here['version']})"):
        assert text in out, text
    if not torch.cuda.is_available():
        assert "engine inspector: not available without a usable GPU" in out

    assert run_info(saved, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metadata"] == side and report["checks"]["integrity"].startswith("ok")


def test_info_reports_bad_files(saved, tmp_path, capsys):
    edit_sidecar(saved, lambda d: d["tensorrt"].update(version="9.9.9"))
    assert run_info(saved) == 1
    out = capsys.readouterr().out
    assert "check tensorrt" in out and "FAILED: EngineVersionError" in out

    foreign = tmp_path / "foreign.engine"
    foreign.write_bytes(b"just some text\n")
    code = run_info(foreign)
    out = capsys.readouterr().out
    assert "no sidecar" in out
    if has_engine_validity():
        assert code == 1 and "check header" in out and "MALFORMED_ENGINE" in out
    with pytest.raises(trtgraph.EngineFormatError, match="no such engine file"):
        run_info(tmp_path / "missing.engine")


def test_dynamic_engine_saves_profile_and_validates_against_it(tmp_path):
    """A real dynamic-shape conversion: the saved sidecar carries the profile, the loaded module
    accepts every shape inside it and refuses one outside with the input's name."""
    model = Two().eval()
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    dyn = {"a": {0: (1, 3, 8)}, "b": {0: (1, 3, 8)}}
    conv = trtgraph.convert(model, [a, b], input_names=["a", "b"], dynamic_shapes=dyn)
    path = conv.save(tmp_path / "dyn.engine")
    module = trtgraph.load(path)
    spec = {s.name: s for s in module.metadata.inputs}
    assert tuple(spec["a"].shape) == (-1, 4)
    assert (tuple(spec["a"].min), tuple(spec["a"].max)) == ((1, 4), (8, 4))
    for n in (1, 5, 8):
        module.validate_inputs((torch.randn(n, 4), torch.randn(n, 4)))
    with pytest.raises(trtgraph.InputShapeError, match=r"'b' has shape \(9, 4\), outside") as info:
        module(torch.randn(2, 4), torch.randn(9, 4))
    assert info.value.input_name == "b"


def test_compile_keys_the_cache_on_dynamic_ranges(tmp_path, build_counter):
    model = Two().eval()
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    first = trtgraph.compile(model, [a, b], cache_dir=tmp_path, input_names=["a", "b"],
                             dynamic_shapes={"a": {0: (1, 3, 8)}, "b": {0: (1, 3, 8)}})
    again = trtgraph.compile(model, [a, b], cache_dir=tmp_path, input_names=["a", "b"],
                             dynamic_shapes={"a": {0: (1, 3, 8)}, "b": {0: (1, 3, 8)}})
    wider = trtgraph.compile(model, [a, b], cache_dir=tmp_path, input_names=["a", "b"],
                             dynamic_shapes={"a": {0: (1, 3, 16)}, "b": {0: (1, 3, 16)}})
    assert (first.cache_hit, again.cache_hit, wider.cache_hit) == (False, True, False)
    assert len(build_counter) == 2
    assert tuple([s for s in wider.metadata.inputs if s.name == "a"][0].max) == (16, 4)
