"""The two core tables' schemas: the timeline (one row per event) and the connection table (one row per connection).

    columns.py      what a schema is (Column), how a frame is checked against one, the README table
    timeline.py     the timeline: every event source is checked against it before the merge
    connections.py  the connection table: analysis.tcp's flows plus analysis.diagnosis' columns

``python -m analysis.schema`` prints both as markdown (the README holds them;
a test keeps them equal).
"""

from analysis.schema.columns import Column, SchemaError
from analysis.schema.connections import (
    CONNECTION_COLUMN_NAMES, CONNECTION_COLUMNS, DIAGNOSIS_COLUMNS, FLOW_COLUMN_NAMES, FLOW_COLUMNS,
    validate_connections, validate_flows,
)
from analysis.schema.timeline import (
    COLUMN_NAMES, TIMELINE_COLUMNS, Actor, EventKind, PacketKind, Source, conform, empty, markdown_table, validate,
)

__all__ = [
    "Column", "SchemaError", "COLUMN_NAMES", "TIMELINE_COLUMNS", "Actor", "EventKind", "PacketKind", "Source",
    "conform", "empty", "markdown_table", "validate", "CONNECTION_COLUMNS", "CONNECTION_COLUMN_NAMES",
    "DIAGNOSIS_COLUMNS", "FLOW_COLUMNS", "FLOW_COLUMN_NAMES", "validate_connections", "validate_flows",
]
