"""The bottom package: what every app shares and that knows no domain.

``core`` imports only Django and the standard library; ``payouts``, ``marketplace``,
``tasks`` and ``reputation`` all import it and it imports none of them (checked by
``tests/test_import_graph.py``). It holds the one error type (``core.errors``), request
types for annotations (``core.http``), money parsing and formatting (``core.money``)
and input limits (``core.limits``).
"""
