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
