"""abortscope's offline analyzer (sans-IO: files/bytes/lines in, DataFrames out).

Layers, bottom up:
    pcap/        capture files -> packet table (engines: fast numpy, scapy, pyshark)
    stream/      several files as one capture, read a batch at a time; passes, streamed outputs
    tcp/         packet batches -> flows (ids, roles, relative seq, history, facts), state carried between batches
    events/      one parser per event source -> timeline rows (schema.py)
    timeline.py  merge every source into one DataFrame, sorted by time
    diagnosis/   per-flow verdicts from a table, with evidence rows and sentences
    plots/       ladder, lane timeline and time-sequence graphs
    batch/       many captures on Dask into one Parquet dataset (read_dataset)
    annotate/    the verdicts, causal steps and events as pcapng packet comments, by frame
    pcapng/      the writer: a capture copied packet for packet into pcapng, with those comments

It never imports `capture` and never needs root. Apart from the pyshark
engine (which drives tshark), it starts no process.
"""

__all__ = ["load", "Read", "Keep", "read_dataset", "Timeline"]


def __getattr__(name: str):
    # Lazy, so `import analysis.schema` stays cheap and import cycles cannot form.
    if name in ("load", "Read", "Keep"):
        from analysis import api

        return getattr(api, name)
    if name == "read_dataset":
        from analysis.batch import read_dataset

        return read_dataset
    if name == "Timeline":
        from analysis.timeline import Timeline

        return Timeline
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
