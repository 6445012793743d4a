"""``DynamicDim``: how ``ConversionContext.shape`` reports a dynamic dimension (-1 that refuses to
be used as a number, naming the node)."""
from __future__ import annotations


class DynamicDim(int):
    """A dynamic dimension in ``ConversionContext.shape``: equal to -1, ``< 0`` is True, ``int()``
    gives -1 (a reshape's "infer"); every other comparison, arithmetic and use as an index raise
    :class:`~trtgraph.errors.DynamicShapeError` naming the node (use ``ctx.dims``/``ctx.dim_size``
    for sizes that may be dynamic, or ``ctx.require_static``)."""

    def __new__(cls, where: str = ""):
        obj = super().__new__(cls, -1)
        obj.where = where
        return obj

    def _refuse(self, *args):
        from .errors import DynamicShapeError

        raise DynamicShapeError(f"{self.where or 'a handler'}: reads the size of a dynamic dimension as a number; "
                                "this op does not support that dimension being dynamic (make it static in "
                                "dynamic_shapes)")

    def _cmp(op):
        def compare(self, other):
            if isinstance(other, int) and not isinstance(other, DynamicDim) and other == 0:
                return op(-1, 0)
            return self._refuse()
        return compare

    __lt__ = _cmp(int.__lt__)
    __le__ = _cmp(int.__le__)
    __gt__ = _cmp(int.__gt__)
    __ge__ = _cmp(int.__ge__)
    del _cmp
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __floordiv__ = __rfloordiv__ = __truediv__ = __rtruediv__ = __mod__ = __rmod__ = _refuse
    __neg__ = __abs__ = __pow__ = __rpow__ = __index__ = _refuse

    def __int__(self):
        return -1

    def __eq__(self, other):
        return isinstance(other, int) and int(other) == -1

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = int.__hash__

    def __repr__(self):
        return "-1"
