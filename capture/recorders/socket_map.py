"""Which socket is which connection, for ``--syscalls kernel``: sock_send_length's ``sk address`` -> endpoints.

``sock:sock_send_length`` carries the errno of a failed send but no address,
only the socket's kernel address. Without strace (whose writes tie it, see
analysis.events.kernel) that address is tied here: a tracefs instance of its
own prints ``sock:inet_sock_set_state`` (filtered on the port) with the
``fields`` option, which shows its ``skaddr`` field; the instance that traces
the server's sends prints ``sk address`` unhashed (``hash-ptr`` off) so the two
can be matched. Kernel addresses never reach the bundle: each is replaced by
a token (a keyed hash, the key is thrown away after the recording), and
kernel.txt gets one comment line per socket:

    # abortscope: socket TOKEN local=127.0.0.1:8080 remote=127.0.0.1:59004

(local: the side on the recorded port; only the server's sockets, whose sends are traced). IPv4 only: ``fields`` cannot print the
16-byte IPv6 address arrays.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets

SOCKET_LINE = "# abortscope: socket {token} local={local} remote={remote}"
_FIELD = re.compile(r"\b(skaddr|sport|dport|saddr|daddr)=0x([0-9a-f]+)")
_SK_ADDRESS = re.compile(r"(sk address = )(?:0x)?([0-9a-f]{8,16})\b")


class SocketMap:
    def __init__(self, port: int) -> None:
        self.port = port
        self._key = secrets.token_bytes(16)
        self.sockets: dict[str, tuple[str, str]] = {}

    def token(self, address_hex: str) -> str:
        return hashlib.blake2b(int(address_hex, 16).to_bytes(8, "little"), key=self._key, digest_size=8).hexdigest()

    def learn(self, text: str) -> None:
        """The fields-mode inet_sock_set_state lines of the sockets instance."""
        for line in text.splitlines():
            fields = dict(_FIELD.findall(line))
            if not {"skaddr", "sport", "dport", "saddr", "daddr"} <= set(fields):
                continue
            sport, dport = int(fields["sport"], 16), int(fields["dport"], 16)
            if sport != self.port or dport == 0:  # the server's sockets only: theirs are the sends traced
                continue
            saddr, daddr = (str(ipaddress.IPv4Address(int(fields[k], 16).to_bytes(4, "little"))) for k in ("saddr", "daddr"))
            self.sockets[self.token(fields["skaddr"])] = (f"{saddr}:{sport}", f"{daddr}:{dport}")

    def hide(self, line: str) -> str:
        """A trace line with its raw ``sk address`` replaced by the token."""
        return _SK_ADDRESS.sub(lambda m: m.group(1) + self.token(m.group(2)), line)

    def lines(self) -> list[str]:
        return [SOCKET_LINE.format(token=t, local=local, remote=remote) for t, (local, remote) in self.sockets.items()]
