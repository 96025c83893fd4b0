"""Sweeps: the smallest response size at which the handler sees a write error, measured and explained.

Layers, bottom up (each module has one job):

    facts.py    one bundle -> ProbeFacts (app error, syscall errnos, writes after the peer's FIN/RST,
                bytes on the wire), read with the analyzer's parsers
    probe.py    ProbeSpec + size -> one harness run (capture.scenario) -> ProbeFacts
    pool.py     probes in worker processes (run_scenario needs a main thread), bounded by the cores;
                `drive` runs many searches at once
    bisect.py   the search itself, sans-IO: a generator that asks for sizes and is told the facts
    wire.py     the HTTP head from the capture: body bytes -> bytes on the wire
    matrix.py   run_sweep (one pair) and run_matrix (servers x clients + knob rows) -> SweepRow
    report.py   CSV, markdown table, explanation sentences, "how to change it"
    plot.py     threshold bars and the app-error map over size (Agg)
    outputs.py  the files a sweep writes: sweep.csv, sweep.md, sweep.txt, sweep.png
    clients.py  adds the browser clients to the clients registry at run time if it lacks them

The CLI (`abortscope sweep`) is the only place that prints.
"""
