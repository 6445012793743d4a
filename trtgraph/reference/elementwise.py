"""ELEMENTWISE, UNARY and SELECT."""
from __future__ import annotations

import torch

from ..errors import EvaluationError
from ._core import as_compute, enum_name, layer_impl, out_dtype


def _div(a, b):
    """Integer DIV truncates toward zero (C semantics), unlike Python's floor division."""
    if a.dtype.is_floating_point:
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


def _floor_div(a, b):
    if a.dtype.is_floating_point:
        return torch.floor(a / b)
    return torch.div(a, b, rounding_mode="floor")


def _pow(a, b):
    if a.dtype.is_floating_point:
        return torch.pow(a, b)
    return torch.pow(a.double(), b.double()).to(a.dtype)


_BINARY = {
    "SUM": torch.add, "PROD": torch.mul, "MAX": torch.maximum, "MIN": torch.minimum,
    "SUB": torch.sub, "DIV": _div, "POW": _pow, "FLOOR_DIV": _floor_div,
    "AND": torch.logical_and, "OR": torch.logical_or, "XOR": torch.logical_xor,
    "EQUAL": torch.eq, "GREATER": torch.gt, "LESS": torch.lt,
}


@layer_impl("ELEMENTWISE")
def elementwise(layer, inputs):
    a, b = inputs
    op = enum_name(layer.op)
    if a.dim() != b.dim():
        raise EvaluationError(f"ELEMENTWISE needs equal ranks, got {tuple(a.shape)} and {tuple(b.shape)}")
    result = _BINARY[op](as_compute(a), as_compute(b))
    return [result.to(out_dtype(layer))]


# ROUND rounds half to even, like torch.round.
_UNARY = {
    "EXP": torch.exp, "LOG": torch.log, "SQRT": torch.sqrt, "RECIP": torch.reciprocal,
    "ABS": torch.abs, "NEG": torch.neg, "SIN": torch.sin, "COS": torch.cos, "TAN": torch.tan,
    "SINH": torch.sinh, "COSH": torch.cosh, "ASIN": torch.asin, "ACOS": torch.acos,
    "ATAN": torch.atan, "ASINH": torch.asinh, "ACOSH": torch.acosh, "ATANH": torch.atanh,
    "CEIL": torch.ceil, "FLOOR": torch.floor, "ERF": torch.erf, "NOT": torch.logical_not,
    "SIGN": torch.sign, "ROUND": torch.round, "ISINF": torch.isinf, "ISNAN": torch.isnan,
}


@layer_impl("UNARY")
def unary(layer, inputs):
    (x,) = inputs
    op = enum_name(layer.op)
    value = as_compute(x)
    if op == "RECIP" and not value.dtype.is_floating_point:
        value = value.float()
    return [_UNARY[op](value).to(out_dtype(layer))]


@layer_impl("SELECT")
def select(layer, inputs):
    condition, then, otherwise = inputs
    if not (condition.dim() == then.dim() == otherwise.dim()):
        raise EvaluationError("SELECT needs equal ranks for condition, then and else")
    return [torch.where(condition.bool(), then, otherwise).to(out_dtype(layer))]
