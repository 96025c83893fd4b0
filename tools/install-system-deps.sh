#!/usr/bin/env bash
# Installs the Debian packages abortscope drives (only those missing).
# As root it runs apt-get; otherwise it prints the exact command to run and fails.
set -euo pipefail
# command -> Debian package
declare -A PACKAGE_OF=(
  [tshark]=tshark
  [dumpcap]=tshark
  [tcpdump]=tcpdump
  [go]=golang-go
  [curl]=curl
  [strace]=strace
  [node]=nodejs
  [chromium]=chromium
  [nginx]=nginx  # `abortscope record`'s tests record Debian's nginx (started by the test, on loopback)
)
missing=()
for cmd in "${!PACKAGE_OF[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${PACKAGE_OF[$cmd]}")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
# a C compiler, libc headers and Python's headers build analysis/pcap/csrc/ (setup.py); without them the
# reader falls back to Python and numpy, and copies files instead of mapping them: about 0.4 s slower per
# million packets (0.65 s against 0.22 s on the benchmark file)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
[ -e /usr/include/stdint.h ] || missing+=(libc6-dev)
python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing+=(python3-dev)
[ -x /usr/bin/time ] || missing+=(time)  # GNU time: peak RSS in the benchmark (`time` alone is the shell keyword)
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "abortscope needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it (no stdin in CI).
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q
# nginx's package starts the system's nginx on port 80 of every address: not here. For the install only, a
# policy-rc.d (if there is none) tells invoke-rc.d to start no service; it is removed afterwards.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && guard=yes
fi
status=0
apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
[ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
exit $status
