"""trtgraph/handlers/attention.py: scaled_dot_product_attention (bool and float masks, a fully
masked row, scale, causal, grouped-query; dropout refused), _native_multi_head_attention
(nn.MultiheadAttention: fast and general paths, weights averaged or per head, masks), the
transformer encoder layer. Checks: ``cases.run_case``."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import check_module
from torch import nn

from .cases import Fn, assert_refused, case_table, r, run_case

CASES, case = case_table()
aten = torch.ops.aten

SDPA = "aten::scaled_dot_product_attention"
case("sdpa", Fn(lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v)),
     [r(2, 3, 5, 8), r(2, 3, 7, 8, seed=1), r(2, 3, 7, 4, seed=2)], [SDPA])
case("sdpa_bool_mask_full_row", Fn(lambda m, q, k, v: F.scaled_dot_product_attention(
    q, k, v, attn_mask=torch.tensor([[True] * 7, [False] * 7, [True, False] * 3 + [True]] * 2)[:5])),
    [r(1, 2, 5, 8), r(1, 2, 7, 8, seed=1), r(1, 2, 7, 8, seed=2)], [SDPA])
case("sdpa_float_mask_scale", Fn(lambda m, q, k, v, mask: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3)),
     [r(2, 4, 8), r(2, 6, 8, seed=1), r(2, 6, 8, seed=2), r(4, 6, seed=3)], [SDPA])
case("sdpa_dynamic_bool_mask", Fn(lambda m, q, k, v, mask: F.scaled_dot_product_attention(q, k, v, attn_mask=mask > 0)),
     [r(1, 2, 4, 8), r(1, 2, 6, 8, seed=1), r(1, 2, 6, 8, seed=2), r(1, 1, 4, 6, seed=3)], [SDPA])
case("sdpa_causal", Fn(lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=0.0)),
     [r(1, 2, 5, 8), r(1, 2, 7, 8, seed=1), r(1, 2, 7, 8, seed=2)], [SDPA])
case("sdpa_gqa", Fn(lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True, is_causal=True)),
     [r(1, 6, 5, 8), r(1, 2, 5, 8, seed=1), r(1, 2, 5, 8, seed=2)], [SDPA])

case("sdpa_constant_masks_that_mask_nothing", Fn(lambda m, q, k, v: F.scaled_dot_product_attention(
    q, k, v, attn_mask=torch.ones(5, 7, dtype=torch.bool)) + F.scaled_dot_product_attention(
    q, k, v, attn_mask=torch.zeros(1, 7))), [r(2, 3, 5, 8), r(2, 3, 7, 8, seed=1), r(2, 3, 7, 4, seed=2)], [SDPA])


def test_a_constant_mask_that_masks_nothing_adds_no_mask_layers():
    """torch.export's transformers build all-true masks: they cost no select layers, unlike a
    mask that masks something (the results are checked by the case above)."""
    import trtgraph

    q, k, v = r(1, 2, 5, 8), r(1, 2, 7, 8, seed=1), r(1, 2, 7, 8, seed=2)

    def layers(mask):
        return trtgraph.convert(Fn(lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)),
                                [q, k, v]).num_layers

    some = torch.ones(5, 7, dtype=torch.bool)
    some[0, 0] = False
    assert layers(torch.ones(5, 7, dtype=torch.bool)) < layers(some)
    assert layers(torch.ones(5, 7, dtype=torch.bool)) == layers(torch.zeros(5, 7))


def _mha_direct(mask=None, mask_type=None, need_weights=False, average=True, cross=False):
    D, H = 8, 2
    g = torch.Generator().manual_seed(5)
    params = dict(w=torch.randn(3 * D, D, generator=g) * 0.3, b=torch.randn(3 * D, generator=g),
                  wo=torch.randn(D, D, generator=g) * 0.3, bo=torch.randn(D, generator=g))

    def fn(m, x, y):
        k = y if cross else x
        out = aten._native_multi_head_attention(x, k, k, D, H, m.w, m.b, m.wo, m.bo, mask, need_weights,
                                                average, mask_type)
        return out if need_weights else out[0]
    return Fn(fn, **params)


MHA = "aten::_native_multi_head_attention"
_mha = Fn(lambda m, x: m.mha(x, x, x, need_weights=False)[0])
_mha.mha = nn.MultiheadAttention(8, 2, batch_first=True)
case("mha_module", _mha, [r(2, 5, 8)], [MHA])
# need_weights / sequence-first: the general path (linear, unflatten, sdpa or bmm+softmax)
_mha_general = Fn(lambda m, x: (m.mha(x, x, x)[1], m.mha(x, x, x, need_weights=False)[0]))
_mha_general.mha = nn.MultiheadAttention(8, 2)
case("mha_module_general_path", _mha_general, [r(5, 2, 8)], ["aten::unflatten", SDPA])
_enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 1, enable_nested_tensor=False)
_enc.layers.append(nn.TransformerEncoderLayer(16, 2, 24, activation="gelu", norm_first=True, batch_first=True))
_enc_masked = Fn(lambda m, x, mask: m.enc(x, src_key_padding_mask=mask))
_enc_masked.enc = _enc
case("transformer_encoder_layer", _enc_masked, [r(2, 6, 16), torch.tensor([[False] * 6, [False] * 4 + [True] * 2])],
     ["aten::_transformer_encoder_layer_fwd"])
case("mha_weights_avg", _mha_direct(need_weights=True), [r(2, 4, 8), r(2, 4, 8, seed=1)], [MHA])
case("mha_weights_per_head_cross", _mha_direct(need_weights=True, average=False, cross=True),
     [r(2, 4, 8), r(2, 4, 8, seed=1)], [MHA])
case("mha_src_mask", _mha_direct(torch.tensor([[False, True, True], [False, False, True], [False, False, False]]), 0),
     [r(2, 3, 8), r(2, 3, 8, seed=1)], [MHA])
case("mha_padding_mask", _mha_direct(torch.tensor([[False, False, True], [False, True, True]]), 1),
     [r(2, 3, 8), r(2, 3, 8, seed=1)], [MHA])
case("mha_generic_float_mask", _mha_direct(torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.0, float("-inf")],
                                                         [0.0, 0.0, 0.0]]).expand(2, 2, 3, 3), 2),
     [r(2, 3, 8), r(2, 3, 8, seed=1)], [MHA])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    run_case(module, inputs, ops)


def test_sdpa_dropout_is_refused():
    """scaled_dot_product_attention drops at random whatever the module's mode: refused, named."""
    q = r(1, 2, 4, 8)
    assert_refused(Fn(lambda m, q: F.scaled_dot_product_attention(q, q, q, dropout_p=0.25)), [q], "dropout_p=0.25")
    check_module(Fn(lambda m, q: F.scaled_dot_product_attention(q, q, q, dropout_p=0.0)), [q])
