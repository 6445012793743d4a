"""Walk a network layer by layer and compute every tensor with torch."""
from __future__ import annotations

import torch

from ..errors import EvaluationError
from ._core import IMPLS, LAYER_CLASSES, layer_type_name, torch_dtype


def _trt_or_none():
    try:
        from ..backend import trt  # noqa: PLC0415
        return trt()
    except Exception:  # noqa: BLE001 - a fake network needs no TensorRT
        return None


def downcast(layer):
    """Give a real ILayer its type-specific class; fake layers are returned unchanged.

    Returns ``(layer, type_name)``: the LayerType name is read before downcasting because
    IActivationLayer.type and IPoolingLayer.type return the activation / pooling type instead.
    """
    type_name = layer_type_name(layer)
    t = _trt_or_none()
    if t is None or not isinstance(layer, t.ILayer):
        return layer, type_name
    cls_name = LAYER_CLASSES.get(type_name)
    if cls_name and hasattr(t, cls_name):
        layer.__class__ = getattr(t, cls_name)
    return layer, type_name


def describe(layer, type_name=None) -> str:
    return f"layer {layer.name!r} ({type_name or layer_type_name(layer)})"


def _bind_inputs(network, inputs: dict) -> dict:
    values = {}
    expected = [network.get_input(i) for i in range(network.num_inputs)]
    names = {tensor.name for tensor in expected}
    extra = sorted(set(inputs) - names)
    if extra:
        raise EvaluationError(f"unknown network input(s) {extra}; the network takes {sorted(names)}")
    for tensor in expected:
        if tensor.name not in inputs:
            raise EvaluationError(f"network input {tensor.name!r} is missing")
        value = torch.as_tensor(inputs[tensor.name])
        shape = tuple(tensor.shape)
        if value.dim() != len(shape):
            raise EvaluationError(
                f"network input {tensor.name!r} has rank {value.dim()} (shape {tuple(value.shape)}),"
                f" the network expects rank {len(shape)} {shape}")
        if any(d >= 0 and d != v for d, v in zip(shape, value.shape)):
            raise EvaluationError(
                f"network input {tensor.name!r} has shape {tuple(value.shape)}, the network expects {shape}")
        values[tensor.name] = value.to(torch_dtype(tensor.dtype))
    return values


def check_output(layer, i: int, value: torch.Tensor, type_name=None) -> None:
    """Compare a computed output with the shape and dtype TensorRT inferred for it."""
    tensor = layer.get_output(i)
    trt_shape = tuple(tensor.shape)
    shape = tuple(value.shape)
    if len(trt_shape) != len(shape) or any(d >= 0 and d != v for d, v in zip(trt_shape, shape)):
        raise EvaluationError(
            f"{describe(layer, type_name)} output {i} ({tensor.name!r}): evaluator computed shape {shape},"
            f" TensorRT inferred {trt_shape}")
    trt_dtype = torch_dtype(tensor.dtype)
    if value.dtype != trt_dtype:
        raise EvaluationError(
            f"{describe(layer, type_name)} output {i} ({tensor.name!r}): evaluator computed dtype {value.dtype},"
            f" TensorRT inferred {trt_dtype}")


def run_layer(layer, type_name: str, values: dict, check: bool) -> None:
    """Evaluate one (downcast) layer, store its outputs in ``values`` (keyed by tensor name)."""
    where = describe(layer, type_name)
    impl = IMPLS.get(type_name)
    if impl is None:
        raise EvaluationError(f"{where}: the reference evaluator does not implement {type_name}")
    inputs = []
    for j in range(layer.num_inputs):
        tensor = layer.get_input(j)
        if tensor is None:
            inputs.append(None)
        elif tensor.name not in values:
            raise EvaluationError(f"{where}: input {j} ({tensor.name!r}) has no value yet")
        else:
            inputs.append(values[tensor.name])
    try:
        outputs = impl(layer, inputs)
    except EvaluationError as exc:
        if where in str(exc):
            raise
        raise EvaluationError(f"{where}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - torch errors are reported with the layer
        raise EvaluationError(f"{where}: {type(exc).__name__}: {exc}") from exc
    for i, value in enumerate(outputs):
        if value is None:
            continue
        if check:
            check_output(layer, i, value, type_name)
        values[layer.get_output(i).name] = value


def evaluate(network, inputs: dict, all_tensors: bool = False, check: bool = True) -> dict:
    """Evaluate ``network`` on ``inputs`` (network input name -> tensor).

    Inputs are cast to the network input's dtype; a missing, unknown or wrongly shaped input
    raises EvaluationError. Returns the network outputs by name, or with ``all_tensors`` every
    tensor's value by name (inputs included). With ``check``, each layer's outputs are compared
    with the shape (dims TensorRT left at -1 skipped) and dtype TensorRT inferred for them.
    """
    from . import control  # noqa: PLC0415 - loops/conditionals need the whole layer list

    values = _bind_inputs(network, inputs)
    layers = [downcast(network.get_layer(i)) for i in range(network.num_layers)]
    control.run_layers(layers, values, check, run_layer)
    if all_tensors:
        return _unshared(values, layers, inputs=inputs)
    result = {}
    for i in range(network.num_outputs):
        name = network.get_output(i).name
        if name not in values:
            raise EvaluationError(f"network output {name!r} was never computed")
        result[name] = values[name]
    return _unshared(result, layers, values, inputs)


def _unshared(result: dict, layers: list, values: dict | None = None, inputs: dict | None = None) -> dict:
    """``result`` with copies of the tensors that share memory with a constant layer's weights
    (``to_torch`` does not copy them; they can be the model's own parameters) or with the
    caller's inputs (an input already of the network's dtype is not copied either)."""
    values = result if values is None else values
    shared = {v.untyped_storage().data_ptr() for v in (inputs or {}).values()
              if isinstance(v, torch.Tensor) and v.numel()}
    for layer, type_name in layers:
        if type_name == "CONSTANT":
            value = values.get(layer.get_output(0).name)
            if isinstance(value, torch.Tensor) and value.numel():
                shared.add(value.untyped_storage().data_ptr())
    return {name: v.clone() if isinstance(v, torch.Tensor) and v.numel() and v.untyped_storage().data_ptr() in shared
            else v for name, v in result.items()}

