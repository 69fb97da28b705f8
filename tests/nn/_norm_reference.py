"""layer_norm as it was written before it became one node: the reference the fused node's tests compare with."""

from gradkit import ops


def composed_layer_norm(x, shape, weight, bias, eps=1e-5):
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centred = x - ops.mean(x, axes, keepdims=True)
    out = centred / ops.sqrt(ops.mean(centred * centred, axes, keepdims=True) + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out
