"""A capture written back with its explanation inside: pcapng packet comments that Wireshark and tshark show.

    annotate(path, output, ...) -> Annotated   (path: a pcap/pcapng file or a run bundle)

    steps.py       every connection's causal chain, numbered as the ladder numbers it
    events.py      where an event that is not a packet goes: the frame it follows
    comments.py    the comments by frame: verdicts, steps, events
    provenance.py  the section header's comments: what made the file, from which sources (sha256)
    write.py       annotate(): the comments from the analysis, then the copy (analysis.pcapng)

An extract (--verdict, --flow, --port) keeps only its connections' packets. This package's own import is
light (provenance.Digest can start hashing before pandas is imported); the rest loads on first use.
"""

from __future__ import annotations

__all__ = ["Annotated", "annotate"]


def __getattr__(name: str):
    if name in __all__:
        from analysis.annotate import write

        return getattr(write, name)
    raise AttributeError(f"module 'analysis.annotate' has no attribute {name!r}")
