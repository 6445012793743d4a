"""Integer arithmetic on sizes, as ``torch.export`` records it (``operator.mul`` on SymInts).

The export adapter maps those Python operators to the ``aten::<op>.int`` ops: static sizes fold
to Python ints (in torch), a dynamic size stays a 0-d int64 network tensor (``ctx.int_op``).
"""
from __future__ import annotations

from ..registry import register_node_handler


def _int_op(name: str):
    def handler(ctx, a, b):
        return ctx.int_op(a, b, name)

    handler.__name__ = f"{name}_int"
    register_node_handler(f"aten::{name}.int(int a, int b) -> int")(handler)
    return handler


for _name in ("add", "sub", "mul", "floordiv"):
    _int_op(_name)
