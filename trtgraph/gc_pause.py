"""Full garbage collections during a conversion.

A conversion allocates many objects (traced graphs, FX nodes, torch.export's symbolic sizes), and
every so often Python then runs a full collection, which walks every object of the process: after
importing torch and torchvision that is about 350,000 objects, 0.2-0.3 s each time (measured: a
dynamic ResNet-50 conversion through the export frontend went from 1.73-1.89 s to 1.53-1.65 s).
During a conversion, the objects that existed before it are moved out of the collector's way
(``gc.freeze``) and put back after (``gc.unfreeze``); objects created during the conversion are
collected as usual, and anything freed by reference counting is freed at once as always.

Nothing is done when the process has frozen objects itself (a pre-fork server does): unfreezing
would undo its freeze.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import threading

_lock = threading.Lock()
_depth = 0
_froze = False


@contextlib.contextmanager
def old_objects_frozen():
    """The objects that exist on entry are left out of full collections until the outermost exit."""
    global _depth, _froze
    with _lock:
        if _depth == 0:
            _froze = gc.get_freeze_count() == 0
            if _froze:
                gc.freeze()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _froze:
                gc.unfreeze()
                _froze = False


def with_old_objects_frozen(fn):
    """``fn`` run inside :func:`old_objects_frozen`."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with old_objects_frozen():
            return fn(*args, **kwargs)
    return run
