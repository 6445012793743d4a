"""Pass: fold inference batch norms into the convolution before them.

``y = batch_norm(conv(x, w, b))`` with running statistics is ``conv(x, w * s, b * s + t)`` for the
per-channel scale ``s`` and shift ``t`` of the batch norm: one layer instead of three. The pass
plans the folds on the graph (:func:`plan_batch_norm_folds`); emission then asks the plan for the
convolution's folded weights (:meth:`BatchNormFolds.fold_weights`) and passes the batch norm's
input through (:meth:`BatchNormFolds.is_folded`).

A batch norm is folded only when all of these hold:

- it and the convolution are converted (not constant-folded), the convolution is not transposed,
  the batch norm is not in training mode;
- the convolution's output has no other reader;
- the weights and the statistics are tensors of the model (not computed by the network);
- the precision policy puts both in the same precision (a float32 island stays apart).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from ..handlers.norm import bn_affine


@dataclass
class BatchNormFolds:
    """The folds of one graph: convolution node -> (scale, shift, batch-norm node)."""

    into_conv: dict = field(default_factory=dict)
    folded: set = field(default_factory=set)  # batch-norm nodes folded into the convolution before them

    def is_folded(self, node) -> bool:
        """A batch norm already applied by the convolution before it."""
        return node in self.folded

    def batch_norm_of(self, conv) -> Optional[object]:
        """The batch-norm node folded into ``conv`` (None if none)."""
        fold = self.into_conv.get(conv)
        return fold[2] if fold is not None else None

    def fold_weights(self, conv, args: dict) -> dict:
        """``args`` of ``conv`` (bound by name) with the batch norm folded into weight and bias."""
        fold = self.into_conv.get(conv)
        if fold is None:
            return args
        scale, shift, _ = fold
        args = dict(args)
        w = args["weight"]  # one new array per folded weight (in its dtype: no float64 copy)
        args["weight"] = w * scale.to(w.dtype).reshape((-1,) + (1,) * (w.dim() - 1))
        b = args["bias"].double() if args["bias"] is not None else torch.zeros_like(scale)
        args["bias"] = (b * scale + shift).to(w.dtype)
        return args


def plan_batch_norm_folds(nodes, converted: Callable, static_args: Callable,
                          same_precision: Callable = lambda a, b: True) -> BatchNormFolds:
    """The folds of ``nodes`` (a graph's nodes, in order).

    ``converted(node)``: the node gets a handler (it depends on the model inputs);
    ``static_args(node)``: its arguments by name, constants and parameters as values (None: unknown);
    ``same_precision(conv, bn)``: the precision policy computes both in the same precision.
    """
    folds = BatchNormFolds()
    for node in nodes:
        if node.kind() != "aten::batch_norm" or not converted(node):
            continue
        x = node.inputsAt(0)
        conv = x.node()
        if conv.kind() != "aten::_convolution" or not converted(conv) or len(x.uses()) != 1:
            continue
        cargs, bargs = static_args(conv), static_args(node)
        if cargs is None or bargs is None or cargs.get("transposed") is not False or bargs.get("training"):
            continue
        params = [cargs.get("weight"), bargs.get("running_mean"), bargs.get("running_var")]
        optional = [cargs.get("bias"), bargs.get("weight"), bargs.get("bias")]
        if not all(isinstance(p, torch.Tensor) for p in params) or \
                not all(p is None or isinstance(p, torch.Tensor) for p in optional):
            continue
        if not same_precision(conv, node):
            continue
        scale, shift = bn_affine(bargs.get("weight"), bargs.get("bias"), bargs["running_mean"],
                                 bargs["running_var"], float(bargs["eps"]))
        folds.into_conv[conv] = (scale, shift, node)
        folds.folded.add(node)
    return folds
