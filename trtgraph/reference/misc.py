"""REVERSE_SEQUENCE and ASSERTION."""
from __future__ import annotations

import torch

from ..errors import EvaluationError
from ._core import attr, layer_impl, out_dtype


@layer_impl("REVERSE_SEQUENCE")
def reverse_sequence(layer, inputs):
    """For each batch entry b, reverse the first lengths[b] elements along sequence_axis."""
    x, lengths = inputs
    batch_axis = int(attr(layer, "batch_axis", 1))
    seq_axis = int(attr(layer, "sequence_axis", 0))
    y = x.clone()
    for b in range(x.shape[batch_axis]):
        n = int(lengths[b])
        entry = x.select(batch_axis, b)
        axis = seq_axis if seq_axis < batch_axis else seq_axis - 1
        head = entry.narrow(axis, 0, n).flip(axis)
        y.select(batch_axis, b).narrow(axis, 0, n).copy_(head)
    return [y.to(out_dtype(layer))]


@layer_impl("ASSERTION")
def assertion(layer, inputs):
    if not bool(torch.as_tensor(inputs[0]).bool().all()):
        raise EvaluationError(f"assertion failed: {attr(layer, 'message', '')}")
    return []


def _corners(boxes, fmt):
    if fmt == "CENTER_SIZES":
        cx, cy, w, h = boxes.unbind(-1)
        return torch.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], -1)
    y1, x1, y2, x2 = boxes.unbind(-1)
    return torch.stack([torch.minimum(y1, y2), torch.minimum(x1, x2), torch.maximum(y1, y2), torch.maximum(x1, x2)], -1)


def _iou(box, others):
    top = torch.maximum(box[0], others[:, 0])
    left = torch.maximum(box[1], others[:, 1])
    bottom = torch.minimum(box[2], others[:, 2])
    right = torch.minimum(box[3], others[:, 3])
    inter = (bottom - top).clamp(min=0) * (right - left).clamp(min=0)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(others) - inter)


def _nms_one(boxes, scores, limit, iou_threshold, score_threshold, topk):
    order = torch.argsort(-scores, stable=True)
    order = order[scores[order] > score_threshold][:topk]
    kept = []
    for i in order.tolist():
        if len(kept) >= limit:
            break
        if not kept or bool((_iou(boxes[i], boxes[kept]) <= iou_threshold).all()):
            kept.append(i)
    return kept


@layer_impl("NMS")
def nms(layer, inputs):
    """Per batch and class: boxes scoring above score_threshold, by descending score, greedily
    dropped when their IoU with a kept box exceeds iou_threshold; at most
    max_output_boxes_per_class each. Output 0 rows are (batch, class, box), ordered by batch,
    class, then score; output 1 is their count."""
    boxes, scores = inputs[0].float(), inputs[1].float()
    limit = int(inputs[2].reshape(-1)[0]) if len(inputs) > 2 and inputs[2] is not None else 0
    iou = float(inputs[3].reshape(-1)[0]) if len(inputs) > 3 and inputs[3] is not None else 0.0
    threshold = float(inputs[4].reshape(-1)[0]) if len(inputs) > 4 and inputs[4] is not None else float("-inf")
    corners = _corners(boxes, attr(layer, "bounding_box_format", None).name
                       if attr(layer, "bounding_box_format", None) is not None else "CORNER_PAIRS")
    topk = int(attr(layer, "topk_box_limit", scores.shape[1]))
    rows = []
    for b in range(boxes.shape[0]):
        for c in range(scores.shape[2]):
            kept = _nms_one(corners[b], scores[b, :, c], limit, iou, threshold, topk)
            rows += [(b, c, i) for i in kept]
    selected = torch.tensor(rows, dtype=torch.int64).reshape(-1, 3)
    outputs = [selected.to(out_dtype(layer, 0))]
    if layer.num_outputs > 1:
        outputs.append(torch.tensor(len(rows)).reshape(tuple(1 for _ in layer.get_output(1).shape)).to(out_dtype(layer, 1)))
    return outputs
