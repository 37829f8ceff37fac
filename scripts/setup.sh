#!/usr/bin/env bash
# Set up everything otscope and its tests need on a fresh Debian machine: system packages, a venv, the
# package with its test extras. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v tshark >/dev/null || need_apt+=(tshark)
command -v tcpdump >/dev/null || need_apt+=(tcpdump)
command -v tcpreplay >/dev/null || need_apt+=(tcpreplay)
command -v nft >/dev/null || need_apt+=(nftables)      # NFLOG captures in tests/integration/test_tunnels.py
command -v rsyslogd >/dev/null || need_apt+=(rsyslog)      # a real syslog receiver: tests/integration/test_event_syslog.py
# its TLS network stream driver (ossl), for the syslog-over-TLS test
ls /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1 || need_apt+=(rsyslog-openssl)
ldconfig -p 2>/dev/null | grep -q libpcap.so.0.8 || need_apt+=(libpcap0.8)
# DHCP peers of tests/integration/test_names_peer.py (server and two clients, in namespaces only)
command -v dnsmasq >/dev/null || need_apt+=(dnsmasq-base)
command -v busybox >/dev/null || need_apt+=(busybox)
command -v dhclient >/dev/null || need_apt+=(isc-dhcp-client)
if [ "${OTSCOPE_BROWSER_TESTS:-1}" = 1 ]; then
  command -v chromium >/dev/null || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  for attempt in 1 2 3 4 5; do
    if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null; then
      break
    fi
    echo "setup: apt-get failed (another install running?), retry $attempt"; sleep 10
  done
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.otscope-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] || [ agent/_fastscan.c -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import otscope.agent.cli" 
  touch "$stamp"
fi
# bytecode for the project's own modules (pip compiles site-packages, not an editable project; a machine with
# PYTHONDONTWRITEBYTECODE set would otherwise compile them from source on every start); fast when up to date
.venv/bin/python -m compileall -q agent dissectors collector api otscope >/dev/null
echo "setup: ok ($(.venv/bin/python --version), $(tshark --version 2>/dev/null | head -1))"
