"""Handler tests, one module per handler family (``test_<family>.py`` for
``trtgraph/handlers/<family>.py``), plus cross-cutting modules: ``test_coverage`` (every handler
has a case), ``test_audit`` (no handler ignores an argument), ``test_dynamic`` (dynamic input
dimensions), ``test_matrix`` (the generated dtype/rank matrix, ``matrix_cases``) and
``test_reduced_precision`` (networks mixing families in fp16/bf16). The shared checks are in
``cases``. This file makes the folder the package ``handlers`` (``tests/`` is on ``sys.path``), so
its module names cannot clash with those of ``tests/`` (``tests/test_sizes.py``)."""
