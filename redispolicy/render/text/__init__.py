"""Human text, one module per report kind (``plan.py`` renders a Plan, ``drift.py`` a
DriftReport, ...), registered in ``redispolicy.render`` as ``text.<kind>:render_<kind>``.

Text is the one format split by kind: it is the largest (every kind has one) and each
kind's layout is its own, while what they share (diagnostic lines, the one-node note,
counts) lives in ``common.py`` and the key-audit block plan and drift both show in
``keys.py``. Nothing here is imported until a renderer is asked for, and nothing imports
redis-py: report types are imported for type checking only.
"""
