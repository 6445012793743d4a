"""Handlers by op family. Importing this package registers all of them.

| module | ops |
|---|---|
| ``activation`` | relu, hardtanh, sigmoid, tanh, gelu, silu, hardswish, ... |
| ``conv`` | _convolution, conv1d/2d/3d, conv_transpose |
| ``elementwise`` | add, sub, mul, div, pow, comparisons, clamp, unary math |
| ``linear`` | linear, addmm, matmul, mm, bmm |
| ``norm`` | batch_norm, layer_norm, group_norm, instance_norm |
| ``pooling`` | max/avg pooling, adaptive pooling |
| ``reduce`` | mean, sum, amax/amin, softmax, log_softmax |
| ``shape`` | view/reshape/flatten, permute/transpose, (un)squeeze, cat/stack, slice/select, size |
| ``misc`` | dropout (identity), contiguous, detach, to/type casts |
| ``resize`` | upsample_nearest/nearest_exact/linear/bilinear/bicubic/trilinear (IResizeLayer) |
| ``index`` | embedding, gather, index, index_select, take_along_dim, pad (all modes), flip, roll, pixel_(un)shuffle, swapaxes/movedim |
| ``math`` | cumsum, diff (and re-exports the next five) |
| ``sort`` | topk, sort, argsort, argmax/argmin, max/min (ITopKLayer) |
| ``remainder`` | remainder, fmod (exact float path) |
| ``einsum`` | einsum |
| ``vector_norm`` | linalg_vector_norm, norm, frobenius_norm |
| ``variance`` | var, std, var_mean, std_mean |
| ``attention`` | scaled_dot_product_attention, _native_multi_head_attention |
| ``sizes`` | size, numel, Int: sizes that follow dynamic input dimensions (shape tensors) |
| ``creation`` | full/full_like/new_full with a fill value from the inputs, ScalarImplicit |
| ``elementwise_ext`` | atan2, log1p/expm1/log2/log10, trunc, asinh/acosh/atanh, log_sigmoid, bitwise_and/or/xor, scalar_tensor, _to_copy, any/all, logsumexp |
| ``scatter`` | slice_scatter, select_scatter, scatter (src/value/reduce), scatter_add, scatter_reduce, index_copy, index_put (accumulate: one-hot sums) |
| ``strided`` | diagonal, as_strided (gathers at positions computed at conversion time) |
| ``core_aten`` | tile, reshape_as, _reshape_copy, tensor_split; core ATen names (native_* norms, convolution, ...) |
| ``nonzero`` | nonzero, nonzero_numpy (as_tuple=True) (NonZero layer; refused up front on TensorRT-RTX, which cannot build it) |
| ``linalg`` | mv, dot/vdot, cross/linalg_cross, cdist (any p), pdist |
| ``sampling`` | grid_sampler(_2d), embedding_bag, adaptive_max_pool1d/2d/3d, _convolution_mode |
| ``quant`` | fake_quantize_per_tensor/per_channel_affine, fused_moving_avg_obs_fake_quant, quantize_per_tensor/per_channel + dequantize (int8 Q/DQ layers); fp8/int8 Q/DQ helpers (parameter checks in ``quant_params``) |
"""
from . import activation, conv, elementwise, linear, misc, norm, pooling, reduce, shape  # noqa: F401
from . import attention, creation, index, math, resize, sizes  # noqa: F401
from . import quant  # noqa: F401
from . import elementwise_ext  # noqa: F401
from . import core_aten, linalg, sampling, scatter  # noqa: F401
from . import nonzero  # noqa: F401
from . import einsum, remainder, sort, strided, variance, vector_norm  # noqa: F401
