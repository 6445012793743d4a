"""The registry checks a handler against the op's schema when it is registered."""
import pytest
import torch

import trtgraph
from trtgraph.errors import RegistrationError
from trtgraph.registry import lookup, register_alias, register_node_handler, unregister_node_handler


def test_key_must_name_a_real_op():
    with pytest.raises(RegistrationError, match="no such torch op"):
        register_node_handler("aten::definitely_not_an_op")(lambda ctx, self: self)
    with pytest.raises(RegistrationError, match="no overload"):
        register_node_handler("aten::softshrink.nosuch")(lambda ctx, self, lambd: self)


def test_handler_parameters_must_cover_an_overload():
    with pytest.raises(RegistrationError, match="lambd"):
        register_node_handler("aten::softshrink")(lambda ctx, self: self)  # lambd missing
    assert lookup("aten::softshrink") is None


def test_alias_in_one_line_with_renamed_arguments():
    from trtgraph.handlers.shape import transpose

    assert lookup("aten::swapdims").fn is transpose
    entry = lookup("aten::swapaxes")
    assert entry.fn.alias_of == (transpose, {"axis0": "dim0", "axis1": "dim1"})

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.swapaxes(x, 0, -1) + 1, torch.swapdims(x, 1, 0)

    x = torch.randn(2, 3, 4)
    conv = trtgraph.convert(M().eval(), [x])
    a, b = conv.evaluate(x)
    assert torch.equal(a, torch.swapaxes(x, 0, -1) + 1) and torch.equal(b, torch.swapdims(x, 1, 0))


def test_alias_of_an_unhandled_op_is_refused():
    with pytest.raises(RegistrationError, match="has no handler"):
        register_alias("aten::celu", "aten::selu_not_there")
    unregister_node_handler("aten::celu")


def test_a_handler_of_another_overload_is_no_handler():
    # torch.where(cond) is aten::where(Tensor condition) -> Tensor[]; the handler registered for
    # where(condition, self, other) cannot take it: refused up front, not a TypeError in the handler
    import torch

    import trtgraph
    from trtgraph.errors import UnsupportedOpsError

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.where(x > 0.5)[0] * 2

    with pytest.raises(UnsupportedOpsError, match="no handler for aten::where"):
        trtgraph.convert(M().eval(), [torch.rand(4)])
