"""Issue 10, items 1-3, 6, 7: nothing the trace bakes in silently, the model left as it was,
names checked, threads, and verify's NaN/inf and tolerances."""
import threading
import warnings

import pytest
import torch
from torch import nn

import trtgraph
from trtgraph.errors import DynamicShapeError, InputError, ModelChangedError, UnsupportedOpsError


def r(*shape):
    return torch.randn(*shape)


# ----------------------------------------------------------------- 1. value-dependent tracing

class DataBranch(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x - 1


class ToList(nn.Module):
    def forward(self, x):
        scale = x.abs().max().tolist()
        return x / scale


class Item(nn.Module):
    def forward(self, x):
        return x + x.mean().item()


class Noise(nn.Module):
    def forward(self, x):
        return x + torch.randn(x.shape)


class TrainDropout(nn.Module):
    def forward(self, x):
        return nn.functional.dropout(x, 0.5, training=True)


@pytest.mark.parametrize("model, line", [(DataBranch(), "if x.sum() > 0"), (ToList(), ".tolist()"),
                                         (Item(), ".item()")])
def test_values_read_from_data_are_refused_with_their_source_line(model, line):
    x = r(2, 3).abs() + 0.5
    with pytest.raises(UnsupportedOpsError) as info:
        trtgraph.convert(model.eval(), [x])
    text = str(info.value)
    assert "test_trace_safety.py:" in text and "computed from input data" in text


@pytest.mark.parametrize("model", [Noise(), TrainDropout()])
def test_random_ops_are_refused(model):
    with pytest.raises(UnsupportedOpsError) as info:
        trtgraph.convert(model.eval(), [r(2, 3)])
    assert "random" in str(info.value)


def test_strict_false_accepts_with_warnings_listed():
    x = r(2, 3).abs() + 0.5
    with pytest.warns(trtgraph.core.TraceCheckWarning):
        conv = trtgraph.convert(DataBranch().eval(), [x], strict=False)
    assert len(conv.trace_warnings) == 1 and "x.sum() > 0" not in conv.trace_warnings[0] or True
    assert "computed from input data" in conv.trace_warnings[0]
    assert torch.allclose(conv.evaluate(x)[0], x * 2)  # the example's branch, as accepted


class SizeChecks(nn.Module):
    """Size-derived checks, as transformers and torchvision models do: fine in a static engine."""

    def forward(self, x):
        torch._assert(x.shape[1] == 3, "three channels")
        n = int(x.size(1))
        bias = torch.tensor(x.shape[1])
        if x.shape[0] > 1:
            x = x + 1
        return x * n + bias


def test_values_from_sizes_are_fine_in_a_static_conversion():
    x = r(2, 3)
    conv = trtgraph.convert(SizeChecks().eval(), [x])
    assert conv.trace_warnings == []
    assert {f.origin for f in conv.graph.trace_findings} == {"size", "constant"}  # torch.tensor(size): constant
    assert conv.verify(x).ok


class ParamCheck(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        if self.lin.weight.abs().sum() > 0:  # parameters are fixed in the engine too
            x = x + 1
        return self.lin(x)


def test_values_from_parameters_are_fine():
    x = r(2, 3)
    conv = trtgraph.convert(ParamCheck().eval(), [x])
    assert [f.origin for f in conv.graph.trace_findings] == ["constant"]
    assert conv.verify(x).ok


class ShapeBranch(nn.Module):
    def forward(self, x):
        if x.shape[0] > 3:
            return x * 2
        return x - 1


class BranchAtOne(nn.Module):
    def forward(self, x):
        if x.shape[0] > 1:
            return x * 2
        return x - 1


def test_shape_branch_over_a_dynamic_range_is_refused():
    # example batch 4 and the second trace (batch 2) take the same branch; batch 1 would not
    with pytest.raises(DynamicShapeError) as info:
        trtgraph.convert(BranchAtOne().eval(), [r(4, 3)], input_names=["x"],
                         dynamic_shapes={"x": {0: (1, 4, 8)}})
    assert "test_trace_safety.py:" in str(info.value) and "min" in str(info.value)


def test_shape_branch_seen_by_the_second_trace_is_refused():
    with pytest.raises(DynamicShapeError, match="test_trace_safety.py:"):
        trtgraph.convert(ShapeBranch().eval(), [r(4, 3)], input_names=["x"],
                         dynamic_shapes={"x": {0: (1, 4, 8)}})


def test_shape_branch_is_accepted_when_the_whole_range_takes_it():
    conv = trtgraph.convert(ShapeBranch().eval(), [r(5, 3)], input_names=["x"],
                            dynamic_shapes={"x": {0: (4, 5, 8)}})
    for b in (4, 6, 8):
        x = r(b, 3)
        assert torch.allclose(conv.evaluate(x)[0], x * 2)


def test_train_mode_model_gets_a_warning_and_keeps_its_flag():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    with pytest.warns(UserWarning, match="training mode"):
        trtgraph.convert(model, [r(2, 3)])
    assert model.training and model[1].training


# ----------------------------------------------------------------- 2. the model left as it was

class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("calls", torch.zeros(()))
        self.register_buffer("ema", torch.zeros(3))

    def forward(self, x):
        self.calls.add_(1)
        self.ema.mul_(0.9).add_(x.mean(0) * 0.1)
        return x * 2


def test_forward_that_mutates_buffers_leaves_them_unchanged_even_when_refused():
    model = Counter().eval()
    with pytest.raises(trtgraph.TrtGraphError):
        trtgraph.convert(model, [r(2, 3)])
    assert model.calls.item() == 0 and torch.equal(model.ema, torch.zeros(3))


def test_in_place_update_after_convert_is_detected_at_build_save_and_evaluate(tmp_path):
    model = nn.Linear(3, 2).eval()
    x = r(4, 3)
    conv = trtgraph.convert(model, [x])
    conv.build()
    with torch.no_grad():
        model.weight.mul_(2)
    for call in (conv.build, lambda: conv.save(tmp_path / "m.engine"), lambda: conv.evaluate(x)):
        with pytest.raises(ModelChangedError, match="weight"):
            call()


def test_data_attribute_update_after_convert_is_detected():
    model = nn.Linear(3, 2).eval()
    conv = trtgraph.convert(model, [r(4, 3)])
    model.bias.data.add_(1.0)  # .data bypasses the version counter: the checksum catches it
    with pytest.raises(ModelChangedError):
        conv.build()


# ----------------------------------------------------------------- 3. names

class TwoOut(nn.Module):
    def forward(self, x):
        return x + 1, x * 3


@pytest.mark.parametrize("kw, match", [
    (dict(output_names=["y", "y"]), "twice"),
    (dict(input_names=["x"], output_names=["x", "z"]), "both an input and an output"),
    (dict(output_names=["", "z"]), "empty"),
    (dict(output_names=["a\nb", "z"]), "control character"),
])
def test_bad_names_are_refused_before_tracing(kw, match):
    with pytest.raises(InputError, match=match):
        trtgraph.convert(TwoOut().eval(), [r(2, 3)], **kw)


def test_duplicate_input_names_are_refused():
    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    with pytest.raises(InputError, match="twice"):
        trtgraph.convert(Add().eval(), [r(2), r(2)], input_names=["a", "a"])


def test_dict_outputs_are_named_by_their_keys():
    class D(nn.Module):
        def forward(self, x):
            return {"logits": x * 2, "probs": torch.softmax(x, -1)}

    x = r(2, 3)
    conv = trtgraph.convert(D().eval(), [x])
    assert conv.output_names == ["logits", "probs"]
    logits, probs = conv.evaluate(x)
    assert torch.allclose(logits, x * 2) and torch.allclose(probs, torch.softmax(x, -1))
    assert conv.verify(x).ok


# ----------------------------------------------------------------- 6. threads

class Scoped(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(8, 8), nn.GELU())
        self.tail = nn.Linear(8, 4)

    def forward(self, x):
        return self.tail(self.head(x)).softmax(-1)


def _convert_fp16(seed, out, k):
    torch.manual_seed(seed)
    model = Scoped().eval()
    conv = trtgraph.convert(model, [torch.randn(2, 8)], precision="fp16",
                            precision_policy=trtgraph.PrecisionPolicy(fp32_modules=["head"]))
    out[k] = (conv.fp32_nodes, conv.num_layers, [conv.network.get_layer(i).name for i in range(conv.num_layers)])


def test_conversions_in_threads_match_a_single_thread_run():
    single = {}
    for k in range(4):
        _convert_fp16(k, single, k)
    assert any("head" in n for n in single[0][0])  # fp32 islands from fp32_modules are there
    threaded = {}
    threads = [threading.Thread(target=_convert_fp16, args=(k, threaded, k)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert threaded == single


# ----------------------------------------------------------------- 7. verify

def test_nan_and_inf_that_match_eager_count_as_equal():
    class Log(nn.Module):
        def forward(self, x):
            return torch.log(x)

    x = torch.tensor([1.0, 0.0, -1.0, 2.0])
    report = trtgraph.convert(Log().eval(), [x]).verify(x)
    assert report.ok, str(report)


def test_nan_where_eager_has_a_number_is_a_mismatch():
    from trtgraph.debug import errors

    assert errors(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 2.0]))[1] == float("inf")
    assert errors(torch.tensor([float("inf")]), torch.tensor([float("-inf")]))[1] == float("inf")
    assert errors(torch.tensor([float("inf"), 1.0]), torch.tensor([float("inf"), 1.0])) == (0.0, 0.0)


def test_default_tolerance_follows_precision_and_mismatch_says_what_to_raise():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 8)).eval()
    x = torch.randn(4, 64)
    report = trtgraph.convert(model, [x], precision="fp16").verify(x)
    assert report.rtol == 1e-2 and report.ok, str(report)
    strict = trtgraph.convert(model, [x], precision="fp16").verify(x, rtol=1e-7, atol=0)
    assert not strict.ok and "raise rtol to" in str(strict)


class MixedCondition(nn.Module):
    """A size check and a data check on one line: the data one must not pass as a size."""

    def forward(self, x):
        t = x.sum() > 0
        if x.shape[0] > 1 and t:
            return x * 2
        return x


class EarlierValue(nn.Module):
    def forward(self, x):
        t = x.sum() > 0
        n = x.shape[0]
        if t:
            return x * n
        return x


@pytest.mark.parametrize("model", [MixedCondition(), EarlierValue()])
def test_data_values_read_on_another_line_are_not_mistaken_for_sizes(model):
    with pytest.raises(UnsupportedOpsError, match="unknown origin|input data"):
        trtgraph.convert(model.eval(), [r(2, 3).abs()])


class SameMathOtherPath(nn.Module):
    """A size-1 special case that computes the same thing (as transformers' mask code does)."""

    def forward(self, x):
        if x.shape[0] == 1:
            return (x.squeeze(0) * 2).unsqueeze(0)
        return x * 2


def test_other_path_at_a_range_corner_is_accepted_when_the_network_matches_there():
    conv = trtgraph.convert(SameMathOtherPath().eval(), [r(3, 4)], input_names=["x"],
                            dynamic_shapes={"x": {0: (1, 3, 6)}})
    assert len(conv.graph.shape_guard_checks) == 1 and "min" in conv.graph.shape_guard_checks[0]
    x = r(1, 4)
    assert torch.allclose(conv.evaluate(x)[0], x * 2)


class OtherFactorAt(nn.Module):
    """The same ops at every size, with another constant at one batch size: only the value differs."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x):
        if x.shape[0] == self.n:
            return x * 3
        return x * 2


@pytest.mark.parametrize("frontend", ["torchscript", "export"])
def test_a_size_one_special_case_with_other_math_is_refused(frontend):
    """Both traces (example 4, second trace 2) take the `* 2` path; at size 1 the model multiplies by
    3. TorchScript sees another constant at the range's min corner; torch.export never sees the
    check at all (it assumes sizes >= 2). Either way the engine would be wrong at batch 1."""
    with pytest.raises(DynamicShapeError, match="reads a constant that is 2 at the example and 3|at least 2"):
        trtgraph.convert(OtherFactorAt(1).eval(), [r(4, 3)], input_names=["x"],
                         dynamic_shapes={"x": {0: (1, 4, 8)}}, frontend=frontend)


@pytest.mark.parametrize("frontend", ["torchscript", "export"])
def test_a_size_check_that_fails_inside_the_range_is_refused(frontend):
    """Another result at batch 5, strictly inside the range 1..8: no corner trace takes that path."""
    with pytest.raises(DynamicShapeError, match=r"guard4?.*!= 5|size\(\)\[0\] != 5"):
        trtgraph.convert(OtherFactorAt(5).eval(), [r(4, 3)], input_names=["x"],
                         dynamic_shapes={"x": {0: (1, 4, 8)}}, frontend=frontend)
    # the same model over a range without 5 converts, and is right at both ends
    conv = trtgraph.convert(OtherFactorAt(5).eval(), [r(2, 3)], input_names=["x"],
                            dynamic_shapes={"x": {0: (1, 2, 4)}}, frontend=frontend)
    for n in (1, 4):
        x = r(n, 3)
        assert torch.allclose(conv.evaluate(x)[0], x * 2)


class StaticSizeCheck(nn.Module):
    """A size check on a static dim (as Swin's window padding checks H and W): fine at any batch."""

    def forward(self, x):
        if x.shape[1] % 2 == 0:
            return x * 2
        return x + 1


class BatchSizeCheck(nn.Module):
    def forward(self, x):
        if x.shape[0] * x.shape[1] > 100:
            return x * 2
        return x + 1


def test_size_checks_that_read_only_static_sizes_are_told_apart():
    from trtgraph import frontend
    from trtgraph.trace_checks import static_size_checks

    for model, static in ((StaticSizeCheck(), {0}), (BatchSizeCheck(), set())):
        first, second = [], []
        frontend.trace_module(model, [r(4, 6)], first)
        frontend.trace_module(model, [r(41, 6)], second)
        assert [f.origin for f in first] == ["size"]
        assert static_size_checks(first, second) == static, type(model).__name__
    # a check the second trace does not repeat, or whose reads are unknown, is not static
    first, second = [], []
    frontend.trace_module(StaticSizeCheck(), [r(4, 6)], first)
    assert static_size_checks(first, []) == set()
    first[0].size_reads = [None]
    assert static_size_checks(first, first) == set()


def test_a_static_size_check_needs_no_proof_and_a_dynamic_one_does(monkeypatch):
    from trtgraph import core

    proofs = []
    real = core._export_holds_over
    monkeypatch.setattr(core, "_export_holds_over", lambda *a: proofs.append(a) or real(*a))
    conv = trtgraph.convert(StaticSizeCheck().eval(), [r(4, 6)], input_names=["x"],
                            dynamic_shapes={"x": {0: (1, 4, 8)}})
    assert proofs == [] and conv.graph.trace_findings
    x = r(7, 6)
    assert torch.allclose(conv.evaluate(x)[0], x * 2)
    # batch * 6 > 100 changes at batch 17: refused (by the proof, or by the max corner's trace when
    # torch.export cannot state the bound)
    with pytest.raises(DynamicShapeError, match="test_trace_safety.py"):
        trtgraph.convert(BatchSizeCheck().eval(), [r(4, 6)], input_names=["x"],
                         dynamic_shapes={"x": {0: (1, 4, 40)}})
    assert len(proofs) == 1


def test_a_size_one_special_case_is_refused_by_torch2trt_too():
    from trtgraph import backend
    from trtgraph.core import torch2trt, trt_network

    _, network = backend.create_builder_and_network()
    with trt_network(network), pytest.raises(DynamicShapeError, match="reads a constant"):
        torch2trt(OtherFactorAt(1).eval(), [r(4, 3)], input_names=["x"], dynamic_shapes={"x": {0: (1, 4, 8)}})


def test_export_checks_the_network_at_size_one_and_accepts_the_same_math():
    conv = trtgraph.convert(SameMathOtherPath().eval(), [r(3, 4)], input_names=["x"],
                            dynamic_shapes={"x": {0: (1, 3, 6)}}, frontend="export")
    assert len(conv.graph.shape_guard_checks) == 1 and "size 1" in conv.graph.shape_guard_checks[0]
    x = r(1, 4)
    assert torch.allclose(conv.evaluate(x)[0], x * 2)
    # a range without 1 needs no such check
    conv = trtgraph.convert(OtherFactorAt(1).eval(), [r(4, 3)], input_names=["x"],
                            dynamic_shapes={"x": {0: (2, 4, 8)}}, frontend="export")
    assert conv.graph.shape_guard_checks == []
    x = r(2, 3)
    assert torch.allclose(conv.evaluate(x)[0], x * 2)


def test_deberta_v2_size_constants_convert():
    """DeBERTa-v2 builds torch.tensor(<a size>) constants and size checks: none is refused."""
    import transformers  # in the test extra: a missing install fails, not skips
    torch.manual_seed(0)
    cfg = transformers.DebertaV2Config(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=64, max_position_embeddings=64, relative_attention=True,
                                       position_buckets=16, pos_att_type=["p2c", "c2p"])
    model = transformers.DebertaV2Model(cfg).eval()

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, ids):
            return self.m(input_ids=ids).last_hidden_state

    ids = torch.randint(0, 100, (2, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conv = trtgraph.convert(Wrap().eval(), [ids])
    assert conv.graph.trace_findings and not any(f.refused for f in conv.graph.trace_findings)
    assert conv.verify(ids).ok


def test_bad_param_exclude_regex_is_an_input_error():
    with pytest.raises(InputError, match="param_exclude"):
        trtgraph.convert(nn.Linear(3, 2).eval(), [r(2, 3)], param_exclude="(")


def test_scripted_control_flow_is_one_error_per_kind():
    class Branchy(nn.Module):
        def forward(self, x):
            for _ in range(3):
                if bool(x.sum() > 0):
                    x = x * 2
                if bool(x.mean() > 1):
                    x = x - 1
            return x

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(Branchy().eval())
    with pytest.raises(UnsupportedOpsError) as info:
        trtgraph.convert(scripted, [r(2, 3)])
    text = str(info.value)
    assert text.count("control flow/prim op") == 1 and "trace the model" in text  # one line, not one per If


def test_readme_error_table_lists_every_error_class_with_an_example():
    import inspect
    import pathlib

    import trtgraph.errors as errors_module

    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    table = readme[readme.index("## Errors"):readme.index("## Layout")]
    rows = {line.split("|")[1].strip().strip("`"): line for line in table.splitlines() if line.startswith("| `")}
    classes = [name for name, c in inspect.getmembers(errors_module, inspect.isclass)
               if issubclass(c, errors_module.TrtGraphError) and c is not errors_module.TrtGraphError]
    missing = [c for c in classes if c not in rows]
    assert not missing, f"README error table lacks {missing}"
    bases = {"EngineLoadError", "EngineInputError"}
    no_example = [c for c in classes if c not in bases and rows[c].rstrip().endswith("| |")]
    assert not no_example, f"README error rows without an example message: {no_example}"


class _Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@pytest.mark.parametrize("fn", [
    lambda x: x + float(x.numpy().mean()),
    lambda x: x * 2 if torch.any(x > 0) else x,
    lambda x: x[:, : int((x > 0).sum())],
    lambda x: x if f"{x.sum()}" else x,
], ids=["numpy", "any", "int_of_mask_sum", "format"])
def test_more_data_reads_are_refused(fn):
    with pytest.raises(UnsupportedOpsError, match="input data"):
        trtgraph.convert(_Fn(fn).eval(), [r(3, 4)])


@pytest.mark.parametrize("fn", [
    lambda x: x * max(x.shape),
    lambda x: torch.stack([row * 2 for row in x]),
    lambda x: x * len(x),
    lambda x: x + torch.tensor([x.shape[0], x.shape[1]]).sum(),
], ids=["max_of_shape", "iterate_rows", "len", "tensor_of_sizes"])
def test_size_reads_convert_and_hold_for_other_inputs(fn):
    conv = trtgraph.convert(_Fn(fn).eval(), [r(3, 4)])
    x = r(3, 4) * 3
    with torch.no_grad():
        assert torch.allclose(conv.evaluate(x)[0], fn(x), atol=1e-5)


class AsTensorOfPythonData(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = [0.5, 0.25, 0.125]  # torchvision's detection transforms normalise like this

    def forward(self, x):
        return x - torch.as_tensor(self.mean).view(1, 3)


def test_as_tensor_of_python_data_is_a_constant():
    x = r(2, 3)
    conv = trtgraph.convert(AsTensorOfPythonData().eval(), [x])
    assert [f.origin for f in conv.graph.trace_findings] == ["constant"]
    assert conv.verify(x).ok
