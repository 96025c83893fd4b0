"""Which log format a text is in, from its first lines (`--applog-format auto`, the default).

Each rule is a regex over the first :data:`SNIFF_LINES` non-empty lines and the
share of them it must match; the first rule that holds names the source
(analysis.events.SOURCES). None when no rule holds (the log is then left out
of the timeline with a warning naming --applog-format).
"""

from __future__ import annotations

import re

SNIFF_LINES = 200
#: (source name, regex, share of the sniffed lines that must match), in order
RULES: tuple[tuple[str, re.Pattern, float], ...] = (
    ("nginx", re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[\w+\] \d+#\d+: "), 0.5),
    ("nginx_access", re.compile(r'^[0-9a-fA-F:.]+ \S+ \S+ \[[^\]]+\] "[^"]*" \d{3} '), 0.5),
    ("jsonl", re.compile(r"^\s*\{.*\}\s*$"), 0.5),
    ("applog", re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? "), 0.5),
    ("java", re.compile(r"^\s+at [\w$.]+\(|\b(?:java|javax|org|com|io)\.[\w.$]+(?:Exception|Error)\b"), 0.05),
    ("node", re.compile(r"node:internal|\bError(?: \[ERR_\w+\])?: |^\s+at .+ \(.+:\d+:\d+\)$"), 0.05),
    ("python", re.compile(r"^Traceback \(most recent call last\):|^\w+Error: |\[Errno \d+\]"), 0.01),
)


def detect(text: str) -> str | None:
    lines = [line for line in text.splitlines()[: SNIFF_LINES * 4] if line.strip()][:SNIFF_LINES]
    if not lines:
        return None
    for name, regex, share in RULES:
        if sum(1 for line in lines if regex.search(line)) >= max(1, share * len(lines)):
            return name
    return None
