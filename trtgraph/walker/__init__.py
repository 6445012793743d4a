"""The graph walker, in stages: kinds of ops, records, analysis, emission, checks, prim nodes.

``trtgraph.core._Walker`` combines them; ``trtgraph.core.torch2trt`` drives it.
"""
