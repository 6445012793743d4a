"""Sizes read through ``torch._shape_as_tensor`` (torchvision's tracing helpers) fold like
``x.shape`` when static, and follow the dimension when dynamic."""
import torch
import torch.nn as nn

import trtgraph


class ShapeAsTensor(nn.Module):
    def forward(self, x):
        s = torch._shape_as_tensor(x)
        return x.reshape(s[0], -1) * 2, s  # the tracer records aten::Int of a size: accepted


def test_shape_as_tensor_static():
    x = torch.rand(3, 4, 5)
    conv = trtgraph.convert(ShapeAsTensor().eval(), [x])
    assert conv.verify(x).ok
    out, shape = conv.evaluate(x)
    assert shape.tolist() == [3, 4, 5] and out.shape == (3, 20)
    conv.build()


def test_shape_as_tensor_follows_a_dynamic_dimension():
    x = torch.rand(3, 4, 5)
    conv = trtgraph.convert(ShapeAsTensor().eval(), [x], input_names=["x"], dynamic_shapes={"x": {0: (1, 3, 8)}})
    y = torch.rand(6, 4, 5)
    out, shape = conv.evaluate(y)
    assert shape.tolist() == [6, 4, 5] and torch.allclose(out, y.reshape(6, -1) * 2)
    conv.build()
