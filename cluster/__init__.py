"""clusterlab: a live laboratory for distributed systems.

The package is layered (see docs/architecture.md): ``schema`` at the bottom,
then ``config`` and the pure ``core``, the ``sim`` harness over the core, the
IO ``node`` shell, the ``launcher`` and the ``client``. A lower layer never
imports a higher one; tests/unit/test_layers.py enforces it.
"""
