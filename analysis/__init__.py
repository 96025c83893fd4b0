"""abortscope's offline analyzer (sans-IO: files/bytes/lines in, DataFrames out).

Layers, bottom up:
    pcap/        capture files -> packet table (engines: fast numpy, scapy, pyshark)
    tcp/         packet table -> flows (ids, roles, relative seq, history, facts)
    events/      one parser per event source -> timeline rows (schema.py)
    timeline.py  merge every source into one DataFrame, sorted by time
    diagnosis/   per-flow verdicts from a table, with evidence rows and sentences
    plots/       ladder, lane timeline and time-sequence graphs

It never imports `capture` and never needs root. Apart from the pyshark
engine (which drives tshark), it starts no process.
"""

__all__ = ["load", "Read", "Keep", "Timeline"]


def __getattr__(name: str):
    # Lazy, so `import analysis.schema` stays cheap and import cycles cannot form.
    if name in ("load", "Read", "Keep"):
        from analysis import api

        return getattr(api, name)
    if name == "Timeline":
        from analysis.timeline import Timeline

        return Timeline
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
