"""Literal event lines captured on this machine (kernel 6.18, strace 6.1, Go 1.19), shared by the parser tests.

The seed run: Go net/http on 127.0.0.1:3917, curl from port 51850, N=8061;
the IPv6 lines come from a Python socket pair on [::1]:3931.
"""

STRACE_SEED = """\
7203  1795472645.635501 read(4<TCP:[127.0.0.1:3917->127.0.0.1:51850]>, "GET / HTTP/1.1\\r\\nHost: 127.0.0.1:"..., 4096) = 78 <0.000086>
7203  1795472645.649380 write(7<pipe:[10184]>, "\\0", 1 <unfinished ...>
7204  1795472645.649480 read(4<TCP:[127.0.0.1:3917->127.0.0.1:51850]>,  <unfinished ...>
7203  1795472645.649504 <... write resumed>) = 1 <0.000054>
7204  1795472645.649537 <... read resumed>0xc000072041, 1) = -1 EAGAIN (Resource temporarily unavailable) <0.000035>
7201  1795472645.649572 read(6<pipe:[10184]>, "\\0", 16) = 1 <0.000064>
7201  1795472645.930056 read(4<TCP:[127.0.0.1:3917->127.0.0.1:51850]>, "", 1) = 0 <0.000030>
7201  1795472646.650206 --- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=7201, si_uid=0} ---
7201  1795472646.650393 write(4<TCP:[127.0.0.1:3917->127.0.0.1:51850]>, "HTTP/1.1 200 OK\\r\\nDate: Mon, 23 N"..., 4096) = 4096 <0.000173>
7201  1795472646.650645 write(4<TCP:[127.0.0.1:3917->127.0.0.1:51850]>, "\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0"..., 4096) = -1 EPIPE (Broken pipe) <0.000036>
7201  1795472646.650735 --- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, si_pid=7201, si_uid=0} ---
7201  1795472646.650827 close(4<TCP:[127.0.0.1:3917->127.0.0.1:51850]>) = 0 <0.000029>
7201  1795472646.651065 read(4</usr/share/zoneinfo/Etc/UTC>, "TZif2\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0"..., 4096) = 114 <0.000010>
"""

STRACE_V6 = """\
[pid 17687] 1795473337.642605 <... accept4 resumed>{sa_family=AF_INET6, sin6_port=htons(47164), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, [28], SOCK_CLOEXEC) = 4<TCPv6:[[::1]:3931->[::1]:47164]> <0.004948>
[pid 17687] 1795473337.643247 recvfrom(4<TCPv6:[[::1]:3931->[::1]:47164]>, "GET", 100, 0, NULL, NULL) = 3 <0.000015>
[pid 17687] 1795473337.943612 sendto(4<TCPv6:[[::1]:3931->[::1]:47164]>, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"..., 4096, 0, NULL, 0) = 4096 <0.000087>
[pid 17687] 1795473337.993966 sendto(4<TCPv6:[[::1]:3931->[::1]:47164]>, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"..., 4096, 0, NULL, 0) = -1 EPIPE (Broken pipe) <0.000016>
[pid 17687] 1795473337.994105 --- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, si_pid=17629, si_uid=0} ---
[pid 17687] 1795473337.994260 close(4<TCPv6:[[::1]:3931->[::1]:47164]>) = 0 <0.000030>
[pid 17687] 1795473337.994666 +++ exited with 0 +++
"""

STRACE_BARE = """\
[pid 17777] 1795473339.152352 recvfrom(4, "GET", 100, 0, NULL, NULL) = 3 <0.000028>
[pid 17777] 1795473339.452669 sendto(4, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"..., 4096, 0, NULL, 0) = 4096 <0.000092>
[pid 17777] 1795473339.503061 sendto(4, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"..., 4096, 0, NULL, 0) = -1 EPIPE (Broken pipe) <0.000048>
"""

KERNEL_SEED = """\
# tracer: nop
#
# entries-in-buffer/entries-written: 17/17   #P:2
#
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
           gosrv-7201    [000] .....  2798.904589: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=3917 dport=0 saddr=127.0.0.1 daddr=0.0.0.0 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:0.0.0.0 oldstate=TCP_CLOSE newstate=TCP_LISTEN
            curl-7210    [001] .....  2800.214573: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=0 dport=3917 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT
            curl-7210    [001] .N...  2800.214937: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=51850 dport=3917 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_SYN_SENT newstate=TCP_ESTABLISHED
            curl-7210    [001] .....  2800.215037: sock_send_length: sk address = 0000000054c241f7, family = AF_INET protocol = IPPROTO_TCP, length = 78, error = 0, flags = 0x0
          strace-7207    [000] .....  2800.229105: sock_send_length: sk address = 00000000ea1f0257, family = 0x10 protocol = 0x4, length = 72, error = 0, flags = 0x0
            curl-7210    [001] .Ns2.  2800.510081: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=3917 dport=51850 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_ESTABLISHED newstate=TCP_CLOSE_WAIT
           gosrv-7201    [001] ..s1.  2801.230766: tcp_send_reset: skbaddr=00000000bf7420a7 skaddr=00000000f81fc03b src=127.0.0.1:51850 dest=127.0.0.1:3917 state=TCP_TIME_WAIT reason=TCP_TIMEWAIT_SOCKET
           gosrv-7201    [001] .....  2801.230796: tcp_receive_reset: family=AF_INET sport=3917 dport=51850 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 sock_cookie=3
           gosrv-7201    [001] .....  2801.230800: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=3917 dport=51850 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_CLOSE_WAIT newstate=TCP_CLOSE
           gosrv-7201    [001] .....  2801.230811: inet_sk_error_report: family=AF_INET protocol=IPPROTO_TCP sport=3917 dport=51850 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 error=32
           gosrv-7201    [001] .....  2801.230813: sock_send_length: sk address = 0000000049b47e37, family = AF_INET protocol = IPPROTO_TCP, length = 4096, error = 0, flags = 0x0
           gosrv-7201    [001] .....  2801.230925: sock_send_length: sk address = 0000000049b47e37, family = AF_INET protocol = IPPROTO_TCP, length = 0, error = -32, flags = 0x0
"""
KERNEL_SEED_OFFSET_NS = 1795469845419770878

GO_LOG = """\
2026/11/23 22:24:06.650942 write tcp 127.0.0.1:3917->127.0.0.1:51850: write: broken pipe
2026/11/23 22:24:07 read tcp [::1]:3000->[::1]:5555: read: connection reset by peer
2026/11/23 22:24:08 http: Server closed
  continuation line without a date
"""
