"""Saved engines and sidecars trusted no further than they are checked (issue 10, item 4): the sidecar
schema, deeply nested JSON, FIFOs and other non-regular files, the umask, the size a TensorRT-RTX plan
records in its header, and the engine's own I/O against its metadata. Every engine here is really
built; none can be deserialized (no GPU), so the engine side of the I/O comparison is a stand-in that
serves the ICudaEngine accessors from the real network, with TensorRT's own enums."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import stat

import pytest
import torch

from trtgraph import runtime  # noqa: E402
import trtgraph
from trtgraph import errors, serialization as ser
from trtgraph.backend import trt


class Two(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, a, b):
        return torch.relu(self.lin(a) + b), a * 2


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    conv = trtgraph.convert(Two().eval(), [torch.randn(2, 4), torch.randn(2, 4)], input_names=["a", "b"],
                            output_names=["sum", "double"])
    return conv, conv.build()


@pytest.fixture(scope="module")
def built_dynamic():
    torch.manual_seed(0)
    conv = trtgraph.convert(Two().eval(), [torch.randn(3, 4), torch.randn(3, 4)], input_names=["a", "b"],
                            dynamic_shapes={"a": {0: (1, 3, 8)}, "b": {0: (1, 3, 8)}})
    return conv, conv.build()


@pytest.fixture
def saved(built, tmp_path):
    return trtgraph.save_engine(built[0], tmp_path / "two.engine")


def sidecar(path) -> dict:
    return json.loads(ser.sidecar_path(path).read_text())


def write_sidecar(path, d):
    ser.sidecar_path(path).write_text(json.dumps(d))


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail (TimeoutError) instead of hanging: a blocking open() of a FIFO is interrupted by the alarm."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_info(path, *flags) -> tuple:
    parser = argparse.ArgumentParser()
    runtime.add_info_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["info", str(path), *flags])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = args.fn(args)
    return code, out.getvalue()


# --------------------------------------------------------------------------- 1. the schema

def _set(path_keys, value):
    def edit(d):
        *parents, last = path_keys
        for k in parents:
            d = d[k]
        d[last] = value
    return edit


def _drop(path_keys):
    def edit(d):
        *parents, last = path_keys
        for k in parents:
            d = d[k]
        del d[last]
    return edit


def _dynamic_a(profile):
    def edit(d):
        d["inputs"][0]["shape"] = [-1, 4]
        if profile is None:
            del d["inputs"][0]["profile"]
        else:
            d["inputs"][0]["profile"] = profile
    return edit


SCHEMA_CASES = [
    # (edit, the field the error must name, a phrase of the reason)
    (_set(["format_version"], True), "format_version", "not an integer >= 1"),
    (_set(["format_version"], 0), "format_version", "not an integer >= 1"),
    (_set(["format_version"], "1"), "format_version", "not an integer >= 1"),
    (_set(["inputs", 0, "shape", 1], -2), "inputs[0].shape[1]", "-1 (dynamic) or a size >= 0"),
    (_set(["inputs", 0, "shape", 1], "4"), "inputs[0].shape[1]", "expected an integer"),
    (_set(["inputs", 0, "shape", 1], 4.0), "inputs[0].shape[1]", "expected an integer"),
    (_set(["inputs", 0, "shape", 1], True), "inputs[0].shape[1]", "expected an integer"),
    (_set(["outputs", 1, "shape", 0], 10 ** 30), "outputs[1].shape[0]", "size >= 0"),
    (_set(["inputs", 0, "shape"], [1] * 9), "inputs[0].shape", "at most 8 dimensions"),
    (_set(["inputs", 0, "shape"], "2x4"), "inputs[0].shape", "expected an array"),
    (_set(["inputs", 0, "profile", "min"], [2]), "inputs[0].profile.min", "rank 1"),
    (_set(["inputs", 0, "profile", "max"], [3, 4]), "inputs[0].profile", "static (2)"),
    (_set(["inputs", 0, "profile", "opt"], [2, -1]), "inputs[0].profile.opt[1]", "size >= 0"),
    (_dynamic_a({"min": [4, 4], "opt": [2, 4], "max": [8, 4]}), "inputs[0].profile", "min <= opt <= max"),
    (_dynamic_a({"min": [1, 4], "opt": [2, 4], "max": [8, 4], "step": [1, 1]}), "inputs[0].profile.step",
     "unknown key"),
    (_dynamic_a(None), "inputs[0].profile", "dynamic dimensions"),
    (_set(["outputs", 0, "profile"], {"min": [2, 4], "opt": [2, 4], "max": [2, 4]}), "outputs[0].profile",
     "unknown key"),
    (_set(["inputs", 1, "dtype"], "float64"), "inputs[1].dtype", "unknown dtype"),
    (_set(["inputs", 1, "dtype"], 7), "inputs[1].dtype", "unknown dtype"),
    (_set(["outputs", 0, "name"], "a"), "outputs[0].name", "also the name of inputs[0]"),
    (_set(["inputs", 1, "name"], "a"), "inputs[1].name", "also the name of inputs[0]"),
    (_set(["inputs", 0, "name"], ""), "inputs[0].name", "empty"),
    (_set(["inputs", 0, "name"], "a\x1b[2J"), "inputs[0].name", "non-printable"),
    (_set(["inputs", 0, "name"], "a\u202eb"), "inputs[0].name", "non-printable"),   # right-to-left override
    (_set(["inputs", 0, "name"], ["a"]), "inputs[0].name", "expected a string"),
    (_drop(["inputs", 0, "dtype"]), "inputs[0]", "missing key 'dtype'"),
    (_set(["inputs", 0], "a"), "inputs[0]", "expected an object"),
    (_set(["inputs"], {"a": 1}), "inputs", "expected an array"),
    (_set(["outputs"], []), "outputs", "at least one output"),
    (_set(["evil"], 1), "evil", "unknown key"),
    (_set(["precision"], 16), "precision", "not one of"),
    (_set(["trtgraph_version"], ""), "trtgraph_version", "empty"),
    (_set(["tensorrt", "family"], "onnx"), "tensorrt.family", "not one of"),
    (_set(["tensorrt", "version"], 1.7), "tensorrt.version", "expected a string"),
    (_set(["engine_size"], True), "engine_size", "byte count"),
    (_set(["engine_size"], 2 ** 64), "engine_size", "byte count"),
    (_set(["engine_sha256"], "A" * 64), "engine_sha256", "SHA-256"),
    (_set(["model_hash"], 123), "model_hash", "SHA-256"),
    (_set(["created"], "yesterday"), "created", "ISO 8601"),
    (_set(["extra"], ["not", "an", "object"]), "extra", "expected an object"),
    (_set(["extra"], {"k\x07": 1}), "extra key 'k\\x07'", "non-printable"),
]


@pytest.mark.parametrize("edit, field, why", SCHEMA_CASES, ids=[c[1] + ":" + c[2] for c in SCHEMA_CASES])
def test_sidecar_schema_names_the_field(saved, edit, field, why):
    d = sidecar(saved)
    edit(d)
    write_sidecar(saved, d)
    with pytest.raises(errors.SidecarSchemaError) as info:
        trtgraph.load(saved)
    assert info.value.field == field
    assert f": {field}: " in str(info.value) and why in str(info.value), str(info.value)


def test_every_entry_point_uses_the_validator(built, saved):
    """trtgraph.load, TRTModule(path), TRTModule(engine, dict), load_state_dict and trtgraph info all
    refuse the same bad sidecar (a bool format_version and a -2 dimension were accepted before)."""
    conv, engine = built
    good = sidecar(saved)
    for edit in (_set(["format_version"], True), _set(["inputs", 0, "shape", 0], -2)):
        d = json.loads(json.dumps(good))
        edit(d)
        write_sidecar(saved, d)
        for load in (trtgraph.load, trtgraph.TRTModule, lambda p: trtgraph.TRTModule(engine, d)):
            with pytest.raises(errors.SidecarSchemaError):
                load(saved)
        sd = {"engine": torch.frombuffer(bytearray(engine), dtype=torch.uint8),
              "metadata": torch.frombuffer(bytearray(json.dumps(d).encode()), dtype=torch.uint8)}
        with pytest.raises(errors.SidecarSchemaError):
            trtgraph.TRTModule().load_state_dict(sd)
        code, out = run_info(saved)
        assert code == 1 and "check sidecar" in out and "FAILED: SidecarSchemaError" in out
    write_sidecar(saved, good)
    assert trtgraph.load(saved).metadata.to_dict() == good


@pytest.mark.parametrize("text, why", [
    ('{"format": "trtgraph-engine", "format": "trtgraph-engine"}', "duplicate key 'format'"),
    ('{"format": "trtgraph-engine", "format_version": NaN}', "NaN is not JSON"),
    ('{"format": "trtgraph-engine", "format_version": 1e400}', "not an integer"),
])
def test_sidecar_syntax_beyond_python_json(saved, text, why):
    ser.sidecar_path(saved).write_text(text)
    with pytest.raises(errors.SidecarSchemaError, match=why):
        trtgraph.load(saved)


def test_metadata_is_validated_before_writing(built, tmp_path):
    conv, engine = built
    meta = ser.metadata_from_conversion(conv, engine)
    meta.outputs[0].name = "sum\nINFO: all checks passed"
    path = tmp_path / "bad.engine"
    with pytest.raises(errors.SidecarSchemaError, match=r"outputs\[0\]\.name"):
        ser.write_engine(path, engine, meta)
    assert not path.exists() and not ser.sidecar_path(path).exists()


def test_strings_that_look_like_shapes_are_written_verbatim(built, tmp_path):
    """The sidecar puts each shape on one line; a name or an extra value such as "[1,  2]" must not be
    rewritten with them (it was: the name then no longer matched the engine's tensor)."""
    conv, engine = built
    meta = ser.metadata_from_conversion(conv, engine, extra={"note": "[3,   4]", "shape": [5,  6]})
    meta.outputs[0].name = "out[1,  2]"
    path = ser.write_engine(tmp_path / "m.engine", engine, meta)
    loaded = trtgraph.load(path).metadata
    assert loaded.outputs[0].name == "out[1,  2]" and loaded.extra == {"note": "[3,   4]", "shape": [5, 6]}
    assert '"shape": [2, 4]' in ser.sidecar_path(path).read_text()


# --------------------------------------------------------------------------- 2. deeply nested JSON

@pytest.mark.parametrize("make", [
    lambda good: "[" * 100000,
    lambda good: '{"a":' * 100000 + "1" + "}" * 100000,
    lambda good: good[:-1] + ', "model_hash": ' + "[" * 50000 + "]" * 50000 + "}",
    lambda good: good.replace('"extra": {}', '"extra": {"x": ' + "[" * 40 + "]" * 40 + "}"),
])
def test_deeply_nested_json_is_a_named_error(saved, make):
    text = make(ser.sidecar_path(saved).read_text().strip())
    ser.sidecar_path(saved).write_text(text)
    with pytest.raises(errors.SidecarSchemaError, match="nested"):
        trtgraph.load(saved)
    code, out = run_info(saved)
    assert code == 1 and "nested" in out
    with pytest.raises(errors.SidecarSchemaError, match="nested"):
        ser.EngineMetadata.from_json(text.encode())


def test_deep_python_metadata_is_a_named_error(built):
    conv, engine = built
    d = ser.metadata_from_conversion(conv, engine).to_dict()
    deep = []
    for _ in range(100000):
        deep = [deep]
    d["extra"] = {"x": deep}
    with pytest.raises(errors.SidecarSchemaError, match="extra: nested"):
        trtgraph.TRTModule(engine, d)


def test_sidecar_size_is_capped(saved):
    text = ser.sidecar_path(saved).read_text()
    ser.sidecar_path(saved).write_text(text + " " * ser.MAX_SIDECAR_BYTES)   # still valid JSON
    with pytest.raises(errors.SidecarSchemaError, match="more than the limit"):
        trtgraph.load(saved)


# --------------------------------------------------------------------------- 3. FIFOs and other non-regular files

@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_fifo_engine_is_refused_not_read(fifo):
    engine = fifo.with_name("model.engine")
    os.rename(fifo, engine)
    with time_limit(5):
        for fn in (trtgraph.load, trtgraph.TRTModule, ser.read_engine_file, lambda p: ser.describe(p)):
            with pytest.raises(errors.NotARegularFileError, match="FIFO"):
                fn(engine)
        with pytest.raises(errors.NotARegularFileError, match="FIFO"):
            run_info(engine)


def test_fifo_sidecar_is_refused_not_read(saved, fifo):
    os.replace(fifo, ser.sidecar_path(saved))
    with time_limit(5):
        for fn in (trtgraph.load, trtgraph.TRTModule, ser.read_metadata):
            with pytest.raises(errors.NotARegularFileError, match="sidecar is a FIFO"):
                fn(saved)
        code, out = run_info(saved)
    assert code == 1 and "FAILED: NotARegularFileError" in out


def test_directory_and_device_are_refused(saved, tmp_path):
    ser.sidecar_path(saved).unlink()
    ser.sidecar_path(saved).mkdir()
    with pytest.raises(errors.NotARegularFileError, match="sidecar is a directory"):
        trtgraph.load(saved)
    device = tmp_path / "zero.engine"
    device.symlink_to("/dev/zero")                  # endless: reading it would never finish
    with time_limit(5):
        with pytest.raises(errors.NotARegularFileError, match="character device"):
            trtgraph.TRTModule(device)
        with pytest.raises(errors.NotARegularFileError, match="character device"):
            ser.describe(device)
    with pytest.raises(errors.NotARegularFileError, match="engine file is a directory"):
        trtgraph.load(tmp_path)


# --------------------------------------------------------------------------- 4. the umask

@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_files_are_written_with_the_umask(built, tmp_path, mask, mode):
    with umask(mask):
        assert ser.current_umask() == mask
        path = trtgraph.save_engine(built[0], tmp_path / "m.engine")
    for p in (path, ser.sidecar_path(path)):
        assert stat.S_IMODE(p.stat().st_mode) == mode, (p, oct(p.stat().st_mode))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.engine", "m.engine.json"]   # no temporary left


def test_rewriting_keeps_the_mode_of_an_existing_file(built, tmp_path):
    with umask(0o022):
        path = trtgraph.save_engine(built[0], tmp_path / "m.engine")
        path.chmod(0o600)
        trtgraph.save_engine(built[0], path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ser.sidecar_path(path).stat().st_mode) == 0o644


# --------------------------------------------------------------------------- 5. the size the plan header records

def test_rtx_plan_header_records_the_file_length(built, built_dynamic):
    if not ser.tensorrt_identity()["family"] == "tensorrt_rtx":
        pytest.skip("the plan layout was read from TensorRT-RTX engines")
    for _, engine in (built, built_dynamic):
        assert engine[:4] == b"vtrt"
        assert int.from_bytes(engine[16:24], "little") == len(engine)
        assert ser.plan_recorded_size(engine) == len(engine)
    assert ser.plan_recorded_size(b"ftrt" + bytes(60)) is None        # not an RTX plan: not checked


@pytest.mark.parametrize("cut", [lambda e: e[: len(e) // 2], lambda e: e[:-1], lambda e: e[:64],
                                 lambda e: e + b"\0" * 16])
def test_info_without_sidecar_catches_truncation(built, tmp_path, cut):
    if not ser.tensorrt_identity()["family"] == "tensorrt_rtx":
        pytest.skip("the plan layout was read from TensorRT-RTX engines")
    _, engine = built
    path = tmp_path / "raw.engine"
    path.write_bytes(engine)
    code, out = run_info(path, "--no-inspect")
    assert code == 0 and "check plan size" in out and f"ok ({len(engine)} bytes" in out
    path.write_bytes(cut(engine))
    code, out = run_info(path, "--no-inspect")
    assert code == 1 and "check plan size" in out and f"the TensorRT plan header records {len(engine)}" in out
    with pytest.raises(trtgraph.EngineFormatError, match="truncated|longer than its plan header"):
        trtgraph.TRTModule(path)                    # a raw plan without sidecar is refused too


# --------------------------------------------------------------------------- 6. the engine's own I/O vs the metadata

class EngineIO:
    """The read-only ICudaEngine accessors trtgraph's comparison uses, served from the built network's
    own inputs and outputs (TensorRT enums, TensorRT shapes): what a deserialized engine reports."""

    def __init__(self, network, profiles=None):
        t = trt()
        self.tensors = {}
        for i in range(network.num_inputs):
            x = network.get_input(i)
            self.tensors[x.name] = [t.TensorIOMode.INPUT, x.dtype, tuple(x.shape)]
        for i in range(network.num_outputs):
            x = network.get_output(i)
            self.tensors[x.name] = [t.TensorIOMode.OUTPUT, x.dtype, tuple(x.shape)]
        self.profiles = {}
        for name, (mode, _, shape) in self.tensors.items():
            if mode == t.TensorIOMode.INPUT:
                self.profiles[name] = [tuple(s) for s in (profiles or {}).get(name, (shape, shape, shape))]

    @property
    def num_io_tensors(self):
        return len(self.tensors)

    def get_tensor_name(self, i):
        return list(self.tensors)[i]

    def get_tensor_mode(self, name):
        return self.tensors[name][0] if name in self.tensors else trt().TensorIOMode.NONE

    def get_tensor_dtype(self, name):
        return self.tensors[name][1]

    def get_tensor_shape(self, name):
        return trt().Dims(self.tensors[name][2])

    def get_tensor_profile_shape(self, name, index):
        assert index == 0
        return [trt().Dims(s) for s in self.profiles[name]]


def test_engine_io_matching_its_metadata_is_accepted(built, built_dynamic, saved, tmp_path):
    conv, _ = built
    module = trtgraph.load(saved)
    module.check_engine(EngineIO(conv.network))
    dconv, _ = built_dynamic
    dmod = trtgraph.load(dconv.save(tmp_path / "dyn.engine"))
    dmod.check_engine(EngineIO(dconv.network, dconv.profiles))


def _retype(engine_io, name, dtype):
    engine_io.tensors[name][1] = dtype


@pytest.mark.parametrize("edit_sidecar, edit_engine, why", [
    (_set(["inputs", 0, "dtype"], "float16"), None, "input 'a' is float32 in the engine, float16 in the metadata"),
    (_set(["outputs", 1, "dtype"], "int32"), None, "output 'double' is float32 in the engine, int32"),
    (_set(["outputs", 1, "name"], "twice"), None, "the engine has an output 'double' that the metadata does not"),
    (_set(["inputs", 1], {"name": "b", "shape": [2, 8], "dtype": "float32",
                          "profile": {"min": [2, 8], "opt": [2, 8], "max": [2, 8]}}),
     None, "input 'b' has shape (2, 4) in the engine, (2, 8)"),
    (_set(["outputs", 0, "shape"], [2, 4, 1]), None, "output 'sum' has shape (2, 4) in the engine, (2, 4, 1)"),
    (None, lambda e: _retype(e, "b", trt().DataType.HALF), "input 'b' is float16 in the engine, float32"),
    (None, lambda e: e.tensors["sum"].__setitem__(0, trt().TensorIOMode.INPUT), "'sum' is an input of the engine"),
    (None, lambda e: e.tensors.pop("double"), "lists an output 'double' that the engine does not have"),
])
def test_engine_io_differing_from_its_metadata_is_refused(built, saved, edit_sidecar, edit_engine, why):
    """An edited sidecar passes every check that needs no engine (its SHA-256 covers the engine, not the
    sidecar); the comparison at deserialization refuses it before TensorRT touches a buffer."""
    conv, _ = built
    if edit_sidecar is not None:
        d = sidecar(saved)
        edit_sidecar(d)
        write_sidecar(saved, d)
    module = trtgraph.load(saved)
    engine_io = EngineIO(conv.network)
    if edit_engine is not None:
        edit_engine(engine_io)
    with pytest.raises(errors.EngineMismatchError) as info:
        module.check_engine(engine_io)
    assert why in str(info.value), str(info.value)


def test_engine_profile_differing_from_its_metadata_is_refused(built_dynamic, tmp_path):
    conv, _ = built_dynamic
    path = conv.save(tmp_path / "dyn.engine")
    d = sidecar(path)
    d["inputs"][0]["profile"]["max"] = [16, 4]
    write_sidecar(path, d)
    module = trtgraph.load(path)
    with pytest.raises(errors.EngineMismatchError, match=r"input 'a' has profile min/opt/max"):
        module.check_engine(EngineIO(conv.network, conv.profiles))


def test_new_errors_are_engine_format_errors():
    for cls in (errors.SidecarSchemaError, errors.NotARegularFileError, errors.EngineMismatchError):
        assert issubclass(cls, trtgraph.EngineFormatError) and issubclass(cls, trtgraph.TrtGraphError)
