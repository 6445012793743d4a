"""Inputs and outputs of any nesting (trtgraph.pytree): a model taking a list of tensors and returning
a list of dicts converts, evaluates to its own structure, and keeps that structure through the engine
sidecar and TRTModule. Flat models keep their names and return types."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import trtgraph
from trtgraph import serialization as ser
from trtgraph.errors import InputError, ParameterError, SidecarSchemaError, TraceError
from trtgraph.pytree import MODEL_KEY


class Detector(nn.Module):
    """Like a torchvision detection model in eval mode: a list of images in, a list of dicts out."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        self.head = nn.Linear(3, 2)

    def forward(self, images):
        out = []
        for im in images:
            f = self.body(im)
            out.append({"boxes": self.head(f), "scores": f.sum(-1), "labels": f.argmax(-1)})
        return out


class Pair(nn.Module):
    def forward(self, a, b):
        return a + b, a * b


class Named(nn.Module):
    def forward(self, x):
        return {"double": x * 2, "neg": -x}


def images(seed=0, n=2):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(5, 4, generator=g) for _ in range(n)]


@pytest.fixture(scope="module")
def detector():
    torch.manual_seed(0)
    model = Detector().eval()
    conv = trtgraph.convert(model, [images()])
    return model, conv


def assert_same_structure(got, want):
    assert type(got) is type(want) and len(got) == len(want)
    for g, w in zip(got, want):
        assert list(g) == list(w)
        for k in w:
            if w[k].is_floating_point():
                assert torch.allclose(g[k], w[k], atol=1e-5), k
            else:
                assert g[k].dtype == w[k].dtype and torch.equal(g[k], w[k]), k


def test_nested_model_converts_and_evaluates_to_its_structure(detector):
    model, conv = detector
    assert conv.input_names == ["input_0", "input_1"]
    assert conv.output_names == ["0.boxes", "0.scores", "0.labels", "1.boxes", "1.scores", "1.labels"]
    assert conv.input_spec.num_leaves == 2 and conv.output_spec.num_leaves == 6
    xs = images(seed=3)  # other values, same structure
    with torch.no_grad():
        want = model(xs)
    assert_same_structure(conv.evaluate(xs), want)
    report = conv.verify(xs)
    assert report.ok and [o.name for o in report.outputs] == conv.output_names
    flat = conv._evaluate_flat(conv._feed((xs,)))
    assert_same_structure(conv.unflatten_outputs(flat), want)
    with pytest.raises(InputError, match="structure"):
        conv.evaluate(images(n=3))  # three images: not the structure the network was traced with


def test_scopes_and_model_are_the_users(detector):
    model, conv = detector
    scopes = {n.scope for n in conv.graph.nodes}
    assert {"body.0", "head"} <= scopes and not any(MODEL_KEY in s for s in scopes)
    assert not hasattr(model, MODEL_KEY) and model._forward_hooks == {} and not model.training
    assert [name for name, _ in model.named_modules()] == ["", "body", "body.0", "body.1", "head"]
    with pytest.raises(ParameterError, match=r"head\.weight"):
        trtgraph.convert(Detector().eval(), [images()], param_exclude=r"head\..*")  # paths as the user's


def test_non_tensor_output_leaf_is_a_named_error():
    class Counted(nn.Module):
        def forward(self, xs):
            return [{"boxes": xs[0] * 2, "count": len(xs)}]

    with pytest.raises(TraceError, match=r"output 0\.count is a int"):
        trtgraph.convert(Counted().eval(), [images()])


def test_engine_sidecar_keeps_the_structure(detector, tmp_path):
    model, conv = detector
    path = trtgraph.save_engine(conv, tmp_path / "det.engine")
    side = json.loads(ser.sidecar_path(path).read_text())
    assert set(side["structure"]) == {"inputs", "outputs"}
    module = trtgraph.load(path)
    xs = images(seed=5)
    leaves = module.validate_inputs((xs,))  # the model's own list of images -> the engine's inputs
    assert len(leaves) == 2 and all(a is b for a, b in zip(leaves, xs))
    with torch.no_grad():
        want = model(xs)
    flat = [t for d in want for t in d.values()]  # as the engine would return them, in output order
    assert_same_structure(module.unflatten_outputs(flat), want)
    again = trtgraph.TRTModule.from_state_dict(module.state_dict())  # the structure travels in the state_dict
    assert_same_structure(again.unflatten_outputs(flat), want)


@pytest.mark.parametrize("edit, field", [
    (lambda s: s.update(outputs="{not json"), "structure.outputs"),
    (lambda s: s.update(outputs=json.dumps([1, {"type": "os.system", "context": "null", "children_spec": []}])),
     "structure.outputs"),
    (lambda s: s.update(inputs=s["outputs"]), "structure.inputs"),  # 6 leaves for 2 engine inputs
    (lambda s: s.update(extra=1), "structure"),
])
def test_malformed_structure_in_a_sidecar_is_a_named_error(detector, tmp_path, edit, field):
    _, conv = detector
    path = trtgraph.save_engine(conv, tmp_path / "det.engine")
    side = ser.sidecar_path(path)
    d = json.loads(side.read_text())
    edit(d["structure"])
    side.write_text(json.dumps(d))
    with pytest.raises(SidecarSchemaError) as info:
        trtgraph.load(path)
    assert info.value.field == field


def test_flat_models_are_unchanged(tmp_path):
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    conv = trtgraph.convert(Pair().eval(), [a, b])
    assert conv.input_names == ["input_0", "input_1"] and conv.output_names == ["output_0", "output_1"]
    got = conv.evaluate(a, b)
    assert isinstance(got, list) and torch.allclose(got[0], a + b) and torch.allclose(got[1], a * b)
    path = trtgraph.save_engine(conv, tmp_path / "pair.engine")
    assert "structure" not in json.loads(ser.sidecar_path(path).read_text())  # old sidecar format
    module = trtgraph.load(path)
    assert isinstance(module.unflatten_outputs([a, b]), tuple)

    named = trtgraph.convert(Named().eval(), [a])
    assert named.output_names == ["double", "neg"]
    got = named.evaluate(a)
    assert isinstance(got, list) and torch.allclose(got[0], a * 2)  # flat, as before
    assert list(named.unflatten_outputs(got)) == ["double", "neg"]   # the dict, when asked
    path = trtgraph.save_engine(named, tmp_path / "named.engine")
    out = trtgraph.load(path).unflatten_outputs(got)
    assert isinstance(out, dict) and torch.equal(out["neg"], got[1])  # TRTModule returns the model's dict


def test_verify_holds_integer_outputs_to_exact_equality(detector):
    _, conv = detector
    report = conv.verify(images(seed=7))
    assert [o.exact for o in report.outputs] == [False, False, True] * 2  # labels are int64
    off_by_one = trtgraph.api.VerifyReport("fp16", rtol=1e-2, atol=1e-5)
    off_by_one.outputs.append(trtgraph.api.OutputError("labels", (3,), 1.0, 1 / 900, exact=True))
    assert not off_by_one.ok and "exactly" in off_by_one.advice()  # within rtol, but an index is wrong


def test_compile_caches_a_model_with_nested_inputs(tmp_path):
    import trtgraph
    from trtgraph.cache import cache_key

    class Nested(torch.nn.Module):
        def forward(self, xs):
            return [{"a": xs[0] * 2, "b": xs[1] + 1}]

    a, b = torch.rand(2, 3), torch.rand(2, 3)
    model = Nested().eval()
    assert cache_key(model, [[a, b]])[0] == cache_key(model, [[a, b]])[0]
    assert cache_key(model, [[a, b]])[0] != cache_key(model, [[a, torch.rand(2, 4)]])[0]
    first = trtgraph.compile(model, [[a, b]], cache_dir=tmp_path)
    second = trtgraph.compile(model, [[a, b]], cache_dir=tmp_path)
    assert not first.cache_hit and second.cache_hit
