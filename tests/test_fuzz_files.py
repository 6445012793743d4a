"""Property-based fuzzing of saved engines (issue 10, item 9), on ONE real engine built once: its
sidecar mutated structure-aware (fields dropped, replaced by values of other types, huge integers,
negative dimensions, nested structures, unicode) and as raw text, and its plan bytes truncated,
flipped and extended.

Property: every outcome of ``trtgraph.load`` / ``TRTModule`` / ``load_state_dict`` / ``trtgraph info``
is either a correct load or a ``TrtGraphError`` -- never another exception, never a hang (each example
runs under an alarm and Hypothesis' deadline). Where the mutation must be refused (a required field
dropped, a field of the wrong type, an engine of the wrong length) the test also requires the refusal.

Examples per test: ``TRTGRAPH_FUZZ_EXAMPLES`` (default 60); runs are derandomized unless
``TRTGRAPH_FUZZ_RANDOM=1``."""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import signal

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from trtgraph import runtime  # noqa: E402
import trtgraph
from trtgraph import serialization as ser
from trtgraph.errors import EngineLoadError, TrtGraphError

SETTINGS = settings(max_examples=int(os.environ.get("TRTGRAPH_FUZZ_EXAMPLES", "60")), deadline=2000,
                    derandomize=os.environ.get("TRTGRAPH_FUZZ_RANDOM") != "1", database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PER_EXAMPLE_SECONDS = 5


class Two(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, a, b):
        return torch.relu(self.lin(a) + b), a * 2


class Saved(tuple):
    """(engine path, engine bytes, sidecar dict), with a short repr for Hypothesis' failure reports."""

    def __repr__(self):
        return f"Saved({self[0]}, {len(self[1])} engine bytes)"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One real dynamic-shape engine (so the sidecar carries non-trivial profiles), saved once."""
    torch.manual_seed(0)
    conv = trtgraph.convert(Two().eval(), [torch.randn(3, 4), torch.randn(3, 4)], input_names=["a", "b"],
                            output_names=["sum", "double"], dynamic_shapes={"a": {0: (1, 3, 8)}, "b": {0: (1, 3, 8)}})
    path = conv.save(tmp_path_factory.mktemp("fuzz") / "two.engine")
    return Saved((path, path.read_bytes(), json.loads(ser.sidecar_path(path).read_text())))


@contextlib.contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def outcome(fn):
    """``(result, None)`` or ``(None, the TrtGraphError)``; any other exception fails the test."""
    try:
        return fn(), None
    except TrtGraphError as exc:
        return None, exc


def info(path) -> tuple:
    """``trtgraph info PATH --no-inspect`` in-process: (exit code, output encoded as UTF-8)."""
    parser = argparse.ArgumentParser()
    runtime.add_info_parser(parser.add_subparsers(dest="cmd"))
    for flags in ([], ["--json"]):
        args = parser.parse_args(["info", str(path), "--no-inspect", *flags])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = args.fn(args)
        text = out.getvalue().encode("utf-8")  # what a UTF-8 terminal must be able to print
    return code, text


def load_everywhere(path, engine: bytes, sidecar_bytes: bytes):
    """Every loader on the files at ``path``; they must agree on accepting or refusing."""
    loaded, err = outcome(lambda: trtgraph.load(path))
    module, err2 = outcome(lambda: trtgraph.TRTModule(path))
    sd = {"engine": torch.frombuffer(bytearray(engine), dtype=torch.uint8) if engine else torch.empty(0, dtype=torch.uint8),
          "metadata": (torch.frombuffer(bytearray(sidecar_bytes), dtype=torch.uint8) if sidecar_bytes
                       else torch.empty(0, dtype=torch.uint8))}
    from_sd, err3 = outcome(lambda: trtgraph.TRTModule.from_state_dict(sd))
    code, _ = info(path)
    assert (err is None) == (err2 is None) == (err3 is None), (err, err2, err3)
    if err is None:
        assert code == 0
        assert bytes(loaded.engine_bytes) == engine and loaded.metadata == module.metadata == from_sd.metadata
    return loaded, err


# --------------------------------------------------------------------------- structure-aware sidecar mutations

def paths(d, prefix=()):
    """Every key path of a JSON document (dict keys and list indices), parents before children."""
    out = []
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else ()
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(paths(v, prefix + (k,)))
    return out


def jtype(v) -> str:
    return "bool" if isinstance(v, bool) else "int" if isinstance(v, int) else type(v).__name__


def depth(v) -> int:
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


def is_dims(v) -> bool:
    return isinstance(v, list) and all(jtype(d) == "int" for d in v)


def is_name(v) -> bool:
    return isinstance(v, str) and v != "" and v.isprintable()


def must_refuse(doc, good) -> list:
    """An oracle independent of trtgraph's validator, from the schema's plain rules (types of the original
    sidecar, required keys, integer shapes, dynamic inputs need a profile, printable names, bounded
    nesting): the reasons ``doc`` must be refused (empty when it may load)."""
    if not isinstance(doc, dict):
        return ["not an object"]
    why = []
    for k, v in good.items():
        if k not in doc:
            if k not in ("model_hash", "created", "extra"):
                why.append(f"{k} dropped")
        elif jtype(doc[k]) != jtype(v) and not (doc[k] is None and k in ("model_hash", "created", "extra")):
            why.append(f"{k} retyped")
    why += [f"unknown key {k!r}" for k in doc if k not in good]
    if depth(doc) > 32:
        why.append("nested too deep")
    trt_info = doc.get("tensorrt")
    if isinstance(trt_info, dict) and not all(isinstance(trt_info.get(k), str) for k in ("family", "version")):
        why.append("tensorrt family/version")
    for kind in ("inputs", "outputs"):
        entries = doc.get(kind)
        if not isinstance(entries, list):
            continue
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not is_name(e.get("name")) or not is_dims(e.get("shape")) \
                    or not isinstance(e.get("dtype"), str):
                why.append(f"{kind}[{i}] malformed")
                continue
            prof = e.get("profile")
            if kind == "outputs" and "profile" in e:
                why.append(f"{kind}[{i}] output with a profile")
            if kind == "inputs" and prof is None and any(d < 0 for d in e["shape"]):
                why.append(f"{kind}[{i}] dynamic without a profile")
            if prof is not None and not (isinstance(prof, dict) and all(is_dims(prof.get(k)) for k in ("min", "opt", "max"))):
                why.append(f"{kind}[{i}] profile malformed")
    if isinstance(doc.get("outputs"), list) and not doc["outputs"]:
        why.append("no outputs")
    return why


unicode_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # surrogates, controls
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.integers(-3, 3),
                         st.floats(allow_nan=False, allow_infinity=False), unicode_text)
json_values = st.recursive(json_scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                                st.dictionaries(unicode_text, kids, max_size=4)),
                           max_leaves=12)


def nested(depth: int, leaf):
    v = leaf
    for i in range(depth):
        v = [v] if i % 2 else {"k": v}
    return v


mutation = st.tuples(st.sampled_from(["drop", "replace", "replace", "nest", "rename"]), st.integers(0, 10 ** 6),
                     json_values, st.integers(1, 60), unicode_text)


def apply(doc, kind, index, value, levels, text):
    """Mutate ``doc`` in place at one of its key paths; returns the path."""
    all_paths = paths(doc)
    if not all_paths:
        return ()
    path = all_paths[index % len(all_paths)]
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if kind == "drop":
        del parent[path[-1]]
    elif kind == "rename":                           # a string field given arbitrary unicode
        if isinstance(parent[path[-1]], str):
            parent[path[-1]] = text
    else:
        parent[path[-1]] = nested(levels, value) if kind == "nest" else value
    return path


@SETTINGS
@given(mutations=st.lists(mutation, min_size=1, max_size=3))
def test_fuzz_sidecar_fields(saved, mutations):
    path, engine, good = saved
    doc = copy.deepcopy(good)
    where = [(m[0],) + apply(doc, *m) for m in mutations]
    reasons = must_refuse(doc, good)
    text = json.dumps(doc).encode()
    with time_limit(PER_EXAMPLE_SECONDS):
        ser.sidecar_path(path).write_bytes(text)
        path.write_bytes(engine)
        loaded, err = load_everywhere(path, engine, text)
    if reasons:
        assert err is not None, f"mutations {where} were accepted although {reasons}: {doc!r}"
    if err is None:                                  # a correct load reproduces the sidecar, nothing coerced
        want = dict(doc)
        for k in ("model_hash", "created", "extra"):
            want.setdefault(k, None)
        want["extra"] = want["extra"] or {}
        assert loaded.metadata.to_dict() == want


@SETTINGS
@given(depth=st.integers(33, 20000), where=st.sampled_from(["document", "extra", "model_hash", "inputs"]),
       opener=st.sampled_from(["[", '{"k":']))
def test_fuzz_deeply_nested_sidecar(saved, depth, where, opener):
    path, engine, good = saved
    closer = "]" if opener == "[" else "}"
    deep = opener * depth + "0" + closer * depth
    if where == "document":
        text = deep
    else:
        doc = dict(good)
        doc[where] = "@@"
        text = json.dumps(doc).replace('"@@"', deep)
    with time_limit(PER_EXAMPLE_SECONDS):
        ser.sidecar_path(path).write_text(text)
        path.write_bytes(engine)
        _, err = load_everywhere(path, engine, text.encode())
    assert err is not None and "nested" in str(err)


@SETTINGS
@given(edits=st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert"]), st.integers(0, 10 ** 6),
                                st.binary(min_size=1, max_size=8)), min_size=1, max_size=4))
def test_fuzz_sidecar_bytes(saved, edits):
    path, engine, good = saved
    text = bytearray(json.dumps(good, indent=2).encode())
    for kind, pos, blob in edits:
        pos %= max(len(text), 1)
        if kind == "flip":
            text[pos] ^= blob[0] or 1
        elif kind == "cut":
            del text[pos:pos + len(blob)]
        else:
            text[pos:pos] = blob
    with time_limit(PER_EXAMPLE_SECONDS):
        ser.sidecar_path(path).write_bytes(bytes(text))
        path.write_bytes(engine)
        loaded, err = load_everywhere(path, engine, bytes(text))
    try:
        doc = json.loads(bytes(text))
    except ValueError:
        assert err is not None, f"not JSON, yet accepted: {bytes(text)!r}"
        return
    reasons = must_refuse(doc, good)
    if reasons:
        assert err is not None, f"accepted although {reasons}: {bytes(text)!r}"


# --------------------------------------------------------------------------- engine bytes

engine_edit = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 10 ** 7), st.just(0)),
    st.tuples(st.just("flip"), st.integers(0, 10 ** 7), st.integers(1, 255)),
    st.tuples(st.just("flip-header"), st.integers(0, 63), st.integers(1, 255)),
    st.tuples(st.just("append"), st.integers(1, 4096), st.integers(0, 255)),
)


def mutate_engine(engine: bytes, edits) -> bytes:
    data = bytearray(engine)
    for kind, pos, val in edits:
        if kind == "truncate":
            del data[pos % max(len(data), 1):]
        elif kind == "append":
            data += bytes([val]) * pos
        elif data:
            data[pos % len(data)] ^= val
    return bytes(data)


@SETTINGS
@given(edits=st.lists(engine_edit, min_size=1, max_size=3))
def test_fuzz_engine_bytes_with_sidecar(saved, edits):
    path, engine, good = saved
    data = mutate_engine(engine, edits)
    with time_limit(PER_EXAMPLE_SECONDS):
        ser.sidecar_path(path).write_text(json.dumps(good))
        path.write_bytes(data)
        _, err = load_everywhere(path, data, json.dumps(good).encode())
    if data != engine:
        assert isinstance(err, EngineLoadError), err


@SETTINGS
@given(edits=st.lists(engine_edit, min_size=1, max_size=3))
def test_fuzz_engine_bytes_without_sidecar(saved, edits):
    """A raw plan (no sidecar): any change of its length is caught, by the size its header records (or,
    with the header itself cut, by TensorRT's header check)."""
    path, engine, _ = saved
    raw = path.with_name("raw.engine")
    data = mutate_engine(engine, edits)
    with time_limit(PER_EXAMPLE_SECONDS):
        raw.write_bytes(data)
        module, err = outcome(lambda: trtgraph.TRTModule(raw))
        report, err2 = outcome(lambda: ser.describe(raw, inspect=False))
        code, text = info(raw)
    assert err2 is None, err2                        # info reports bad files in its checks
    failed = [k for k, v in report["checks"].items() if str(v).startswith("FAILED")]
    assert (code == 1) == bool(failed) and (err is None) == (not failed), (failed, err)
    if len(data) != len(engine) and ser.tensorrt_identity()["family"] == "tensorrt_rtx":
        assert failed and err is not None, f"a plan of {len(data)} bytes (built: {len(engine)}) was accepted"
