"""The engine file format's code, one module per concern, from the bottom up: ``jsonfields``,
``metadata``, ``rawfiles``, ``hashing``, ``record``, ``checks``, ``files``, ``describe``.
:mod:`trtgraph.serialization` documents the format and re-exports every name; import from there."""
