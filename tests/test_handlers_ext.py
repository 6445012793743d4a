"""Case table for the handlers of the model zoo's ops (resize, index, math, attention, creation).
Same checks as tests/test_handlers.py: eager vs torch debug mode vs the reference evaluation of the
real TensorRT network, whose engine is built and serialized."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import check_module
from test_handlers import Fn, r
from trtgraph.registry import _normalize

CASES = []


def case(name, module, inputs, ops):
    CASES.append(pytest.param(module, inputs, ops, id=name))


def ints(*shape, low=0, high=10, seed=0, dtype=torch.int64):
    return torch.randint(low, high, shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


aten = torch.ops.aten

# --- resize: torch's coordinate mappings (nearest floor, nearest-exact, half pixel, align corners)
NEAR, NEAR_X = "aten::upsample_nearest2d", "aten::_upsample_nearest_exact2d"
BIL, BIC = "aten::upsample_bilinear2d", "aten::upsample_bicubic2d"
case("nearest2d_size", Fn(lambda m, x: F.interpolate(x, size=(7, 9))), [r(1, 2, 4, 5)], [NEAR])
case("nearest2d_scale2", Fn(lambda m, x: F.interpolate(x, scale_factor=2)), [r(1, 3, 4, 5)], [NEAR])
case("nearest2d_scale_fraction", Fn(lambda m, x: F.interpolate(x, scale_factor=(2.5, 1.7))), [r(1, 2, 5, 3)], [NEAR])
case("nearest2d_down", Fn(lambda m, x: F.interpolate(x, size=(3, 4))), [r(2, 2, 7, 9)], [NEAR])
case("nearest2d_plain_scales", Fn(lambda m, x: aten.upsample_nearest2d(x, [12, 12], 2.5, None)), [r(1, 2, 5, 5)], [NEAR])
case("nearest1d", Fn(lambda m, x: F.interpolate(x, scale_factor=3)), [r(2, 3, 5)], ["aten::upsample_nearest1d"])
case("nearest3d", Fn(lambda m, x: F.interpolate(x, size=(3, 5, 4))), [r(1, 2, 2, 3, 4)], ["aten::upsample_nearest3d"])
case("nearest_exact2d", Fn(lambda m, x: F.interpolate(x, size=(7, 3), mode="nearest-exact")), [r(1, 2, 4, 5)], [NEAR_X])
case("nearest_exact1d_3d", Fn(lambda m, x, y: (F.interpolate(x, scale_factor=1.5, mode="nearest-exact"),
                                               F.interpolate(y, size=(3, 3, 5), mode="nearest-exact"))),
     [r(1, 2, 5), r(1, 1, 2, 2, 3)], ["aten::_upsample_nearest_exact1d", "aten::_upsample_nearest_exact3d"])
case("bilinear_size", Fn(lambda m, x: F.interpolate(x, size=(7, 11), mode="bilinear")), [r(1, 3, 4, 5)], [BIL])
case("bilinear_align", Fn(lambda m, x: F.interpolate(x, size=(7, 11), mode="bilinear", align_corners=True)),
     [r(1, 3, 4, 5)], [BIL])
case("bilinear_scale_fraction", Fn(lambda m, x: F.interpolate(x, scale_factor=1.7, mode="bilinear")),
     [r(1, 2, 5, 6)], [BIL])
case("bilinear_down_align_1px", Fn(lambda m, x: F.interpolate(x, size=(3, 1), mode="bilinear", align_corners=True)
                                  + F.interpolate(x, size=(3, 1), mode="bilinear")), [r(1, 2, 8, 9)], [BIL])
case("bilinear_upsample_module", nn.Upsample(scale_factor=2, mode="bilinear"), [r(2, 3, 6, 4)], [BIL])
case("bilinear_channels_last", nn.Upsample(size=(5, 7), mode="bilinear"),
     [r(1, 3, 4, 6).to(memory_format=torch.channels_last)], [BIL])
case("bilinear_plain", Fn(lambda m, x: aten.upsample_bilinear2d(x, [6, 9], False, None, None)
                          + aten.upsample_bilinear2d(x, [6, 9], True, 1.5, 1.8)), [r(1, 2, 4, 5)], [BIL])
case("bicubic", Fn(lambda m, x: F.interpolate(x, size=(9, 7), mode="bicubic")), [r(1, 2, 5, 4)], [BIC])
case("bicubic_align", Fn(lambda m, x: F.interpolate(x, scale_factor=(1.6, 2.0), mode="bicubic", align_corners=True)),
     [r(1, 2, 5, 4)], [BIC])
case("bicubic_down", Fn(lambda m, x: F.interpolate(x, scale_factor=0.6, mode="bicubic")), [r(1, 2, 9, 8)], [BIC])
case("linear1d", Fn(lambda m, x: F.interpolate(x, size=11, mode="linear")
                   + F.interpolate(x, size=11, mode="linear", align_corners=True)), [r(2, 3, 5)],
     ["aten::upsample_linear1d"])
case("linear1d_scale", Fn(lambda m, x: F.interpolate(x, scale_factor=2.3, mode="linear")), [r(1, 2, 5)],
     ["aten::upsample_linear1d"])
case("trilinear", Fn(lambda m, x: F.interpolate(x, size=(3, 5, 6), mode="trilinear")
                    + F.interpolate(x, size=(3, 5, 6), mode="trilinear", align_corners=True)), [r(1, 2, 2, 3, 4)],
     ["aten::upsample_trilinear3d"])

# --- gathers and advanced indexing (int64 and int32 indices, negative indices and dims)
case("embedding", nn.Embedding(10, 4), [ints(2, 5)], ["aten::embedding"])
case("embedding_int32_padding", nn.Embedding(12, 3, padding_idx=0), [ints(3, 4, dtype=torch.int32, high=12)],
     ["aten::embedding"])
case("gather", Fn(lambda m, x, i: (torch.gather(x, 1, i), torch.gather(x, -1, i[:, :2, :3]))),
     [r(2, 4, 5), ints(2, 3, 5, high=4)], ["aten::gather"])
case("gather_const_index", Fn(lambda m, x: torch.gather(x, 0, torch.tensor([[1, 0, 1], [0, 0, 1]]))), [r(2, 4)],
     ["aten::gather"])
case("index_select", Fn(lambda m, x, i: (torch.index_select(x, -1, i), x.index_select(1, torch.tensor([3, 0, 0])))),
     [r(2, 4, 5), ints(2, high=5)], ["aten::index_select"])
case("index_const", Fn(lambda m, x: x[:, torch.tensor([2, -1, 0])] + x[torch.tensor([1]), :, 1:4].sum()),
     [r(2, 4, 3)], ["aten::index"])
case("index_dynamic_negative", Fn(lambda m, x, i: x[i]), [r(5, 3), ints(2, 3, low=-5, high=5)], ["aten::index"])
case("index_two_adjacent", Fn(lambda m, x, i, j: x[:, i, j]), [r(2, 4, 5, 3), ints(3, high=4), ints(2, 1, high=5, seed=1)],
     ["aten::index"])
case("index_two_separated", Fn(lambda m, x, i: x[i, :, torch.tensor([0, 2, 1])]), [r(3, 2, 4), ints(3, high=3)],
     ["aten::index"])
case("index_ellipsis", Fn(lambda m, x, i: x[..., i] * 2), [r(2, 3, 5), ints(2, 2, low=-5, high=5)], ["aten::index"])
case("index_bool_const_mask", Fn(lambda m, x: x[:, torch.tensor([True, False, True, True])]), [r(2, 4, 3)],
     ["aten::index"])
case("index_param_table", Fn(lambda m, i: m.table[i], table=r(6, 4)), [ints(3, 3, high=6)], ["aten::index"])
case("index_0d_and_noncontiguous", Fn(lambda m, x, i: (x[torch.tensor(1)], x[:, i], x[i.t()])),
     [r(4, 5, 3).transpose(0, 1), ints(3, 2, high=4).t()], ["aten::index"])
case("embedding_noncontiguous_idx", nn.Embedding(10, 4), [ints(5, 2).t()], ["aten::embedding"])
case("take_along_dim", Fn(lambda m, x, i: torch.take_along_dim(x, i, dim=1) + torch.take_along_dim(x, i[:1], dim=1)),
     [r(2, 5, 3), ints(2, 4, 3, high=5)], ["aten::take_along_dim"])
case("take_along_dim_flat", Fn(lambda m, x, i: torch.take_along_dim(x, i)), [r(3, 4), ints(5, high=12)],
     ["aten::take_along_dim"])

# --- padding (constant with value and cropping, reflect, replicate, circular), flips and rolls
case("pad_constant", Fn(lambda m, x: F.pad(x, (1, 2, 0, 1)) + F.pad(x, (1, 2, 0, 1), value=1.5)), [r(1, 2, 4, 5)],
     ["aten::pad"])
case("pad_crop_int", Fn(lambda m, x: F.pad(x, (-1, 2, 1, -1), value=7)), [ints(2, 4, 5)], ["aten::pad"])
case("pad_reflect", Fn(lambda m, x, y: (F.pad(x, (2, 3), mode="reflect"), F.pad(y, (1, 2, 3, 0), mode="reflect"))),
     [r(2, 3, 6), r(1, 2, 5, 4)], ["aten::pad"])
case("pad_replicate", Fn(lambda m, x, y: (F.pad(x, (2, 3), mode="replicate"), F.pad(y, (1, 2, 3, 0), mode="replicate"))),
     [r(2, 3, 6), r(1, 2, 5, 4)], ["aten::pad"])
case("pad_circular", Fn(lambda m, x: F.pad(x, (1, 2, 2, 1), mode="circular")), [r(1, 2, 4, 5)], ["aten::pad"])
case("pad_modules", nn.Sequential(nn.ReflectionPad2d((1, 0, 2, 1)), nn.ReplicationPad2d(1), nn.ZeroPad2d((0, 1, 1, 0)),
                                  nn.ConstantPad2d(1, -0.5)), [r(1, 2, 4, 5)], ["aten::pad"])
case("pad_aten_direct", Fn(lambda m, x, y: (aten.reflection_pad1d(y, [2, 1]), aten.replication_pad1d(y, [0, 3]),
                                            aten.reflection_pad2d(x, [1, 1, 2, 0]), aten.replication_pad2d(x, [2, 0, 1, 1]),
                                            aten.reflection_pad3d(x.unsqueeze(0), [1, 1, 1, 1, 1, 0]),
                                            aten.replication_pad3d(x.unsqueeze(0), [1, 0, 0, 1, 1, 1]),
                                            aten.constant_pad_nd(x, [1, 1], 2.0), aten._pad_circular(y, [1, 2]),
                                            aten._pad_enum(y, [1, 1], 1, None))),
     [r(1, 2, 4, 5), r(2, 3, 6)],
     ["aten::reflection_pad1d", "aten::replication_pad1d", "aten::reflection_pad2d", "aten::replication_pad2d",
      "aten::reflection_pad3d", "aten::replication_pad3d", "aten::constant_pad_nd", "aten::_pad_circular",
      "aten::_pad_enum"])
case("flip", Fn(lambda m, x: x.flip(0, -1) + torch.flip(x, [1])), [r(2, 3, 4)], ["aten::flip"])
case("roll", Fn(lambda m, x: torch.roll(x, 2, 1) + torch.roll(x, (-1, 3), (0, -1)) + torch.roll(x, 5)), [r(2, 3, 4)],
     ["aten::roll"])
case("pixel_shuffle", nn.Sequential(nn.PixelShuffle(2), nn.PixelUnshuffle(3)), [r(1, 36, 3, 3)],
     ["aten::pixel_shuffle", "aten::pixel_unshuffle"])
case("pixel_shuffle_batched", Fn(lambda m, x: F.pixel_shuffle(x, 3)), [r(2, 2, 9, 2, 3)], ["aten::pixel_shuffle"])
# inside a submodule, the tracer records swapaxes/swapdims/moveaxis (maxvit's SwapAxes module)
case("swap_move", nn.Sequential(Fn(lambda m, x: torch.swapaxes(x, 0, -1)), Fn(lambda m, x: torch.swapdims(x, 1, 2)),
                                Fn(lambda m, x: torch.movedim(x, 0, -1)), Fn(lambda m, x: torch.movedim(x, (0, 2), (2, 0))),
                                Fn(lambda m, x: torch.moveaxis(x, -1, 0))),
     [r(3, 4, 5)], ["aten::swapaxes", "aten::swapdims", "aten::movedim", "aten::moveaxis"])

# --- scans, selections, reductions
case("cumsum", Fn(lambda m, x: x.cumsum(-1) + torch.cumsum(x, 0)), [r(3, 4)], ["aten::cumsum"])
case("cumsum_int", Fn(lambda m, x, y: (x.cumsum(1), torch.cumsum(y, 0), torch.cumsum(y, 0, dtype=torch.float32))),
     [ints(2, 5, low=-5), ints(4, dtype=torch.int32)], ["aten::cumsum"])
case("cumsum_bool_channels_last", Fn(lambda m, x: ((x > 0).cumsum(-1), x.cumsum(1))),
     [r(1, 3, 4, 5).to(memory_format=torch.channels_last)], ["aten::cumsum"])
case("topk", Fn(lambda m, x: torch.topk(x, 3)), [r(2, 3, 7)], ["aten::topk"])
case("topk_smallest_dim0", Fn(lambda m, x: torch.topk(x, 2, dim=0, largest=False)), [r(5, 3)], ["aten::topk"])
case("topk_1d_rank5", Fn(lambda m, x, y: (x.topk(4), y.topk(1, dim=0))), [r(9), r(3, 2, 2, 2, 3)], ["aten::topk"])
case("topk_int", Fn(lambda m, x: torch.topk(x, 2, dim=1)), [torch.randperm(12).reshape(3, 4)], ["aten::topk"])
case("sort", Fn(lambda m, x: (torch.sort(x), torch.sort(x, dim=0, descending=True), x.sort(stable=True, dim=-1))),
     [r(4, 6)], ["aten::sort"])
case("argmax_argmin", Fn(lambda m, x: (x.argmax(), x.argmax(1), x.argmin(-1, keepdim=True), torch.argmin(x),
                                       torch.argmax(x, keepdim=True))), [r(3, 4, 5)], ["aten::argmax", "aten::argmin"])
case("max_min_dim", Fn(lambda m, x: (x.max(1), x.min(-1, keepdim=True), torch.max(x, 0)[1])), [r(3, 4, 5)],
     ["aten::max", "aten::min"])
case("max_min_full_other", Fn(lambda m, x, y: (x.max(), x.min(), torch.max(x, y), torch.min(x, y))),
     [r(3, 4), r(4, seed=1)], ["aten::max", "aten::min"])
case("max_int_bool", Fn(lambda m, x: (x.max(), x.max(0), x.argmax(1), (x > 50).max(1), torch.sort(x > 50, dim=1)[0])),
     [torch.randperm(12, generator=torch.Generator().manual_seed(3)).reshape(3, 4) * 9],
     ["aten::max", "aten::argmax", "aten::sort"])
case("remainder_fmod", Fn(lambda m, x, y: (torch.remainder(x, y), torch.fmod(x, y), x % 0.7, torch.fmod(x, -0.7),
                                           torch.remainder(2.5, y))),
     [r(3, 4) * 4, r(3, 4, seed=1).abs() + 0.5], ["aten::remainder", "aten::fmod"])
case("remainder_fmod_int", Fn(lambda m, x, y: (x % y, torch.fmod(x, y), x % 3, torch.fmod(x, -3))),
     [ints(3, 4, low=-20, high=20), ints(3, 4, low=1, high=7, seed=1) * torch.tensor([1, -1, 1, -1])],
     ["aten::remainder", "aten::fmod"])
case("einsum", Fn(lambda m, x, y: (torch.einsum("bij,bjk->bik", x, y), torch.einsum("B I J, B K J -> B I K", x, x),
                                   torch.einsum("...ij->...ji", x), torch.einsum("bij", x), torch.einsum("bij->", x))),
     [r(2, 3, 4), r(2, 4, 5, seed=1)], ["aten::einsum"])
case("einsum_maxvit_5d", Fn(lambda m, q, k: torch.einsum("B G H I D, B G H J D -> B G H I J", q, k)),
     [r(1, 2, 3, 4, 5), r(1, 2, 3, 6, 5, seed=1)], ["aten::einsum"])
case("einsum_misc", Fn(lambda m, x, a, b: (torch.einsum("ii->i", x), torch.einsum("i,j->ij", a, b),
                                           torch.einsum("ij,j,i->", x, a, a), torch.einsum("ij,kj", x, x))),
     [r(4, 4), r(4, seed=1), r(3, seed=2)], ["aten::einsum"])
case("einsum_int", Fn(lambda m, x, y: torch.einsum("ij,jk->ik", x, y) + torch.einsum("ij->j", x)[None]),
     [ints(3, 4, low=-5), ints(4, 4, low=-5, seed=1)], ["aten::einsum"])
case("vector_norm", Fn(lambda m, x: (torch.linalg.vector_norm(x), torch.linalg.vector_norm(x, 1, dim=-1),
                                     torch.linalg.vector_norm(x, float("inf"), dim=(0, 2), keepdim=True),
                                     torch.linalg.vector_norm(x, 3, dim=1), torch.linalg.vector_norm(x, 0, dim=1),
                                     F.normalize(x, dim=-1))),
     [r(2, 3, 4)], ["aten::linalg_vector_norm"])
case("norm", Fn(lambda m, x: (aten.norm(x), aten.norm(x, 1), aten.norm(x, 2, [1], True), aten.norm(x, None, [0, 2]),
                              aten.frobenius_norm(x, [1, 2]), aten.frobenius_norm(x, [0], True))),
     [r(2, 3, 4)], ["aten::norm", "aten::frobenius_norm"])
case("var_std", Fn(lambda m, x: (x.var(), x.std(), x.var(1, unbiased=False), x.std(-1, keepdim=True),
                                 torch.var(x, dim=(0, 2), correction=2, keepdim=True), torch.std(x, dim=0, correction=0))),
     [r(3, 4, 5)], ["aten::var", "aten::std"])
case("var_std_mean", Fn(lambda m, x: (torch.var_mean(x, 1), torch.std_mean(x, dim=(0, 1), keepdim=True),
                                      torch.var_mean(x))),
     [r(3, 4, 5)], ["aten::var_mean", "aten::std_mean"])
case("diff", Fn(lambda m, x, p: (torch.diff(x), torch.diff(x, n=2, dim=0), torch.diff(x, dim=1, prepend=p, append=p),
                                 torch.diff(x > 0, dim=-1))),
     [r(4, 5), r(4, 1, seed=1)], ["aten::diff"])

# --- attention
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

# --- creation ops whose fill value comes from the inputs
case("full_from_tensor", Fn(lambda m, x: torch.full((2, 3), x[0, 0]) + x[:2]), [r(3, 3)],
     ["aten::full", "aten::ScalarImplicit"])
case("full_like_new_full_from_tensor", Fn(lambda m, x: torch.full_like(x, x[1, 1]) + x.new_full((3,), x[0, 2])),
     [r(3, 3)], ["aten::full_like", "aten::new_full"])


@pytest.mark.parametrize("module,inputs,ops", CASES)
def test_op(module, inputs, ops):
    torch.manual_seed(0)
    conv = check_module(module, inputs, rtol=1e-4, atol=1e-5)
    used = {_normalize(rec.kind) for rec in conv.graph.nodes}
    for op in ops:
        assert op in used, f"the case is meant to cover {op}, but the graph converted {sorted(used)}"


@pytest.mark.parametrize("fn,inputs,message", [
    (lambda m, x: x[x > 0], [r(3, 4)], "boolean mask computed from the inputs"),
    (lambda m, x: torch.sort(x), [r(2, 4000)], "TopK takes at most"),
    (lambda m, x: torch.topk(x, 3900), [r(2, 4000)], "k <= 3840"),
], ids=["index_dynamic_bool_mask", "sort_too_long", "topk_k_too_large"])
def test_unsupported_combinations_are_reported(fn, inputs, message):
    """Argument combinations TensorRT cannot express are listed up front, with their source line."""
    import trtgraph

    with pytest.raises(trtgraph.UnsupportedOpsError, match=message) as info:
        trtgraph.convert(Fn(fn).eval(), inputs)
    assert "test_handlers_ext.py" in str(info.value)


class _MixedOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 16)
        self.mha = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x, ids, y):
        h = self.emb(ids) + x
        h = self.mha(h, h, h, need_weights=False)[0]
        img = F.interpolate(h.reshape(1, 2, 4, 16), scale_factor=1.5, mode="bilinear")
        big = y * 60.0  # sums of squares (2e5) overflow fp16, the norm and var do not: they reduce in fp32
        return (img, F.normalize(big, dim=-1), big.var(-1), torch.topk(h, 3)[0], torch.cumsum(h, 1),
                F.pad(h, (1, 1), mode="reflect"))


@pytest.mark.parametrize("precision,rtol", [("fp16", 2e-2), ("bf16", 5e-2)])
def test_reduced_precision(precision, rtol):
    x, ids, y = r(2, 4, 16), ints(2, 4, high=20), r(2, 64, seed=1)
    check_module(_MixedOps().eval(), [x, ids, y], rtol=rtol, atol=1e-2, precision=precision, debug=False)
