"""The capture as a stream: many files, any size, memory bounded by the connections, not the packets.

    files.py     several files as one capture: which, in which order, under which names
    reading.py   the files' packets a batch at a time, on a thread (numpy only: starts before pandas)
    source.py    those batches as packet tables, afresh for each pass (any engine)
    passes.py    the connection fold (analysis.tcp.fold) over the batches, into outputs; again if not exact
    outputs.py   flows, kept packets, the connection table in chunks
    timeline.py  the timeline's packet rows in time order, a slice at a time
    exports.py   the command line's exports and text report, streamed

This package's __init__ imports nothing: reading.py must load without pandas.
"""
