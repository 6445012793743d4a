"""trtgraph/handlers/core_aten.py: shape variants (tile, reshape_as, _reshape_copy, tensor_split)
and the core ATen names of torch.export / explicit torch.ops.aten calls. Checks: ``cases.run_case``
(the CUDA-only attention kernels against a reference function instead of eager torch)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_close, check_module
from torch import nn

import trtgraph

from .cases import Fn, assert_covers, case_table, check_dynamic, ints, r, run_case

CASES, case = case_table()
aten = torch.ops.aten


# --- shape variants
case("tile", lambda m, x: (x.tile(2), x.tile((2, 1, 3)), torch.tile(x, (2, 1, 1, 2)), x.tile((1,))),
     [r(2, 3)], ["aten::tile"])
case("tile_int_bool_rank0", lambda m, x, s: (x.tile((3, 2)), (x > 4).tile((2,)), s.tile((3,))), [ints(2, 2), torch.tensor(1.5)],
     ["aten::tile"])
case("reshape_as", lambda m, x, y: (x.reshape_as(y), y.reshape_as(x.t())), [r(2, 6), r(3, 4, seed=1)],
     ["aten::reshape_as"])
case("_reshape_copy", lambda m, x: (aten._reshape_copy(x, [3, -1]), aten._reshape_copy(x.int(), [12])), [r(2, 6)],
     ["aten::_reshape_copy"])
case("tensor_split_sections", lambda m, x: (x.tensor_split(3, 1), torch.tensor_split(x, 2), x.tensor_split(4, -1)),
     [r(3, 7)], ["aten::tensor_split"])
case("tensor_split_indices", lambda m, x: (x.tensor_split([1, 4], 1), torch.tensor_split(x, (-2, 6), dim=1),
                                           torch.tensor_split(x, m.at2, 0), torch.tensor_split(x, m.two, 1)),
     [r(3, 7)], ["aten::tensor_split"], at2=torch.tensor([2]), two=torch.tensor(2))
case("tensor_split_unsorted_empty", lambda m, x: tuple(p * 2 for p in x.tensor_split([4, 2], 1)) + x.tensor_split(9, 1)[-2:],
     [r(3, 7)], ["aten::tensor_split"])


# --- core ATen names (explicit torch.ops.aten calls; statistics outputs are returned too)
W, B = r(4, seed=1), r(4, seed=2)
RM, RV = r(3, seed=3) * 0.1, r(3, seed=4).abs() + 0.5
case("native_layer_norm", lambda m, x: aten.native_layer_norm(x, [4], W, B, 1e-5) + aten.native_layer_norm(x, [3, 4], None, None, 1e-3),
     [r(2, 3, 4) * 3 + 1], ["aten::native_layer_norm"])
case("native_layer_norm_output_only", lambda m, x: aten.native_layer_norm(x, [4], W, B, 1e-5)[0], [r(5, 4)],
     ["aten::native_layer_norm"])
case("native_group_norm", lambda m, x: aten.native_group_norm(x, W, B, 2, 4, 15, 2, 1e-5), [r(2, 4, 3, 5) * 2 - 1],
     ["aten::native_group_norm"])
case("native_batch_norm_eval", lambda m, x: aten.native_batch_norm(x, W[:3], B[:3], RM, RV, False, 0.1, 1e-5)[0],
     [r(2, 3, 4)], ["aten::native_batch_norm"])
case("native_batch_norm_train_stats", lambda m, x: aten.native_batch_norm(x, W[:3], None, RM.clone(), RV.clone(), True, 0.1, 1e-5),
     [r(4, 3, 5) * 2 + 1], ["aten::native_batch_norm"])
case("_native_batch_norm_legit", lambda m, x: (aten._native_batch_norm_legit_no_training(x, W[:3], B[:3], RM, RV, 0.1, 1e-5)[0],)
     + aten._native_batch_norm_legit(x, None, B[:3], True, 0.1, 1e-5)
     + aten._native_batch_norm_legit(x, W[:3], None, RM.clone(), RV.clone(), False, 0.1, 1e-5)[:1],
     [r(2, 3, 2, 2)], ["aten::_native_batch_norm_legit_no_training", "aten::_native_batch_norm_legit"])
case("native_dropout_eval", lambda m, x: aten.native_dropout(x, 0.3, False), [r(2, 3)], ["aten::native_dropout"])
case("_prelu_kernel", lambda m, x, w: (aten._prelu_kernel(x, m.w) + aten._prelu_kernel(x, m.w[:1]), aten._prelu_kernel(x, w),
                                      torch.prelu(x, m.w.reshape(3))), [r(2, 3, 4), r(4, seed=1)],
     ["aten::_prelu_kernel"])
CASES[-1].values[0].register_parameter("w", nn.Parameter(torch.tensor([0.1, 0.2, 0.3]).reshape(3, 1), requires_grad=False))
case("_adaptive_avg_pool", lambda m, x, y: (aten._adaptive_avg_pool2d(x, [2, 3]), aten._adaptive_avg_pool2d(x, [3, 4]),
                                            aten._adaptive_avg_pool3d(y, [1, 2, 2])),
     [r(1, 2, 6, 6), r(1, 2, 3, 4, 4)], ["aten::_adaptive_avg_pool2d", "aten::_adaptive_avg_pool3d"])
case("_cdist_pdist_forward", lambda m, x, y: (aten._cdist_forward(x, y, 2.0, None), aten._cdist_forward(x, y, 1.0, 0),
                                              aten._pdist_forward(x[0], 2.0), aten._pdist_forward(x[1], 3.0)),
     [r(2, 4, 3), r(2, 5, 3, seed=1)], ["aten::_cdist_forward", "aten::_pdist_forward"])
case("sdpa_flash_for_cpu", lambda m, q, k, v: aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, True)[0],
     [r(1, 2, 5, 8), r(1, 2, 5, 8, seed=1), r(1, 2, 5, 8, seed=2)], ["aten::_scaled_dot_product_flash_attention_for_cpu"])


class _Scripted(nn.Module):
    """torch.jit.script keeps what tracing rewrites: aten::convolution, sym_size, sym_numel."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(r(4, 2, 3, 3), requires_grad=False)
        self.b = nn.Parameter(r(4, seed=1), requires_grad=False)

    def forward(self, x):
        y = torch.ops.aten.convolution(x, self.w, self.b, [1, 2], [1, 0], [1, 1], False, [0, 0], 1)
        n = torch.ops.aten.sym_size(x, 0)
        total = torch.ops.aten.sym_numel(x)
        return y.reshape(n, -1) * 2.0, x.reshape(total)


case("scripted_convolution_sym_size", torch.jit.script(_Scripted()), [r(2, 2, 6, 7)],
     ["aten::convolution", "aten::sym_size", "aten::sym_numel"])


class _GpuAttention(nn.Module):
    """The CUDA-only sdpa kernels (no CPU implementation: eager torch cannot run them here)."""

    def forward(self, q, k, v):
        a = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, None, False, 0.0, True)[0]
        b = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, False, False, scale=0.5)[0]
        c = torch.ops.aten._scaled_dot_product_cudnn_attention(q, k, v, None, False, 0.0, False, False)[0]
        return a, b, c


def _gpu_attention_reference(q, k, v):
    return (F.scaled_dot_product_attention(q, k, v, is_causal=True), F.scaled_dot_product_attention(q, k, v, scale=0.5),
            F.scaled_dot_product_attention(q, k, v))


# converted from a script (tracing would run the kernels) and compared with F.scaled_dot_product_attention
_GPU = case("scripted_gpu_sdpa_kernels", torch.jit.script(_GpuAttention()),
            [r(1, 2, 5, 8), r(1, 2, 5, 8, seed=1), r(1, 2, 5, 8, seed=2)],
            ["aten::_scaled_dot_product_efficient_attention", "aten::_scaled_dot_product_flash_attention",
             "aten::_scaled_dot_product_cudnn_attention"])
REFERENCES = {id(_GPU): _gpu_attention_reference}  # cases whose eager module cannot run on CPU


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    reference = REFERENCES.get(id(module))
    if reference is None:
        run_case(module, inputs, ops)
        return
    conv = trtgraph.convert(module, inputs)
    assert isinstance(conv.build(), bytes)
    for i, (got, want) in enumerate(zip(conv.evaluate(*inputs), reference(*inputs))):
        assert_close(got, want, 1e-4, 1e-5, f"reference evaluation, output {i}")
    assert_covers(conv, ops)


def test_statistics_refused_when_read_in_eval_mode():
    with pytest.raises(trtgraph.errors.TrtGraphError, match="empty statistics"):
        trtgraph.convert(Fn(lambda m, x: aten.native_batch_norm(x, None, None, RM, RV, False, 0.1, 1e-5)[1] + 1).eval(),
                         [r(2, 3)])


def test_native_dropout_training_is_refused():
    with pytest.raises(trtgraph.UnsupportedOpsError, match="train=True"):
        trtgraph.convert(Fn(lambda m, x: aten.native_dropout(x, 0.3, True)[0]).eval(), [r(2, 3)])


@pytest.mark.parametrize("precision,rtol", [("fp16", 2e-2), ("bf16", 5e-2)])
def test_reduced_precision(precision, rtol):
    model = Fn(lambda m, x: aten.native_layer_norm(x, [4], W, B, 1e-5) + aten.native_group_norm(x, W, B, 2, 4, 4, 2, 1e-5)
               + aten.native_batch_norm(x, W, B, None, None, True, 0.1, 1e-5) + (x.tile((2, 1)), aten._prelu_kernel(x, W[:1])))
    check_module(model, [r(2, 4, 4) * 2 + 1], rtol=rtol, atol=2e-2, precision=precision)


def test_dynamic_batch():
    model = Fn(lambda m, x: aten.native_layer_norm(x, [3], W[:3], B[:3], 1e-5)
               + (x.tile((2, 1, 1)), x.reshape_as(x.transpose(1, 2)), aten.native_dropout(x, 0.2, False)[0]))
    check_dynamic(model, [r(2, 4, 3)], {"x": {0: (1, 2, 5)}}, [[(1, 4, 3)], [(5, 4, 3)]])
