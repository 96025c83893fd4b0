"""`abortscope record`: every recorder of `run`, attached to the user's own server (by pid or by command).

capture.record.session orchestrates one recording; the small modules beside it
each do one job: target (which process, which port, which interface),
follow (copy a growing log into the bundle, each line stamped on arrival),
stop (when to stop: duration, first RST, limits), logs (the --applog
options as the recording keeps them, the logs' time zone). The kernel's
socket addresses for ``--syscalls kernel`` are capture.recorders.socket_map's.
"""
