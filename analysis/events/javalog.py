"""Java server logs (logback/log4j lines and stack traces) -> timeline rows (source ``app``).

    2026-12-04 23:50:01.123 ERROR [http-nio-8080-exec-1] o.a.c.c.C.[dispatcherServlet] failed
    org.apache.catalina.connector.ClientAbortException: java.io.IOException: Broken pipe
        at java.base/sun.nio.ch.SocketDispatcher.write0(Native Method)
    java.net.SocketException: Connection reset

An error line is an exception line (``pkg.Name(Exception|Error): message``) whose
message ends in an errno's text (``Broken pipe``: EPIPE; ``Connection reset``
and ``Connection reset by peer``: ECONNRESET). The failing call is read from the
frames below it (``.write0(``, ``.read(``). Times: the line's (or the log line
above the trace's) ``yyyy-MM-dd HH:mm:ss.SSS`` stamp, local time (``ctx.tz``),
else the arrival (events._stacks).
"""

from __future__ import annotations

import re

from analysis.events._stacks import StackFormat, parse_with
from analysis.events.context import ParseContext

FORMAT = StackFormat(
    name="java",
    error=re.compile(r"\b(?:[\w$]+\.)+\w*(?:Exception|Error)\b:.*(?:Broken pipe|Connection reset(?: by peer)?|"
                     r"Connection timed out)\s*$"),
    stamps=((re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)"), None),),
    op=re.compile(r"\.(?P<op>write|read)\w*\("),
    op_after=3,
    aliases=(("Connection reset", "ECONNRESET"),),
)


def parse(text: str, ctx: ParseContext):
    """Timeline rows from Java logs (module docstring)."""
    return parse_with(FORMAT, text, ctx)
