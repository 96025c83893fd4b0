"""The sentence checker: every clause the analyzer says, recomputed from the raw bundle files.

An oracle independent of the analyzer (it never imports ``analysis`` or ``capture``, which imports it): tshark
reads the packets, and plain parsers here read strace.txt, kernel.txt, app.jsonl and meta.json. Every template id
of analysis.diagnosis.explain.TEMPLATES has a checker here (registry.CHECKERS): a pattern the clause must match
whole, and a function that verifies each claim it makes (frames, times, bytes, errnos, states, which layer wrote)
against the raw files. A new template without a checker fails the suite (test_registry.py).

    raw.py        the bundle's files, parsed (tshark, strace, tracefs text, app.jsonl, meta.json)
    conn.py       one connection's facts, from those
    measure.py    how printed times, durations and counts are compared (the rounding they were printed with)
    checks_*.py   the checkers, one module per story
    registry.py   template id -> checker; check(diagnosis, bundle) -> problems
    matrix.py     the fresh-run matrices (reduced for CI, full once), and a command to run one
"""
