"""abortscope's offline analyzer (sans-IO: files/bytes/lines in, DataFrames out).

Layers, bottom up:
    pcap/        capture files -> packet table (engines: fast numpy, scapy, pyshark)
    tcp/         packet table -> flows (ids, roles, relative seq, history, facts)
    events/      one parser per event source -> timeline rows (schema.py)
    timeline.py  merge every source into one DataFrame, sorted by time
    diagnosis/   per-flow verdicts from a table, with evidence rows and sentences
    plots/       ladder, lane timeline and time-sequence graphs
    annotate/    the verdicts, causal steps and events as pcapng packet comments, by frame
    pcapng/      the writer: a capture copied packet for packet into pcapng, with those comments

It never imports `capture` and never needs root. Apart from the pyshark
engine (which drives tshark), it starts no process.
"""

__all__ = ["load", "Timeline"]


def __getattr__(name: str):
    # Lazy, so `import analysis.schema` stays cheap and import cycles cannot form.
    if name == "load":
        from analysis.api import load

        return load
    if name == "Timeline":
        from analysis.timeline import Timeline

        return Timeline
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
