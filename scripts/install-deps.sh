#!/usr/bin/env bash
# Installs the Debian packages the root tests, `vsd lab` and the datapath
# benchmark use, when they are missing. Needs root; does nothing otherwise.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have ip      || need+=(iproute2)
have ethtool || need+=(ethtool)
have nginx   || need+=(nginx-light)
have curl    || need+=(curl)
have wrk     || need+=(wrk)
have socat   || need+=(socat)
have haproxy || need+=(haproxy)
have nft     || need+=(nftables)
have taskset || need+=(util-linux)
have ping    || need+=(iputils-ping)
# ldirectord drives vsadm in the ldirectord test; its HTTP check needs LWP.
have ldirectord || need+=(ldirectord)
perl -MLWP::UserAgent -e1 2>/dev/null || need+=(libwww-perl)
perl -MSocket6 -e1 2>/dev/null || need+=(libsocket6-perl)
perl -MIO::Socket::INET6 -e1 2>/dev/null || need+=(libio-socket-inet6-perl)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: not root; missing: ${need[*]} (root tests will skip)" >&2
  exit 0
fi
echo "install-deps: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
# Debian starts the servers it installs; the lab runs its own instances.
for svc in nginx haproxy ldirectord; do
  if have systemctl; then systemctl stop "$svc" 2>/dev/null || true; systemctl disable "$svc" 2>/dev/null || true; fi
  if have service; then service "$svc" stop 2>/dev/null || true; fi
done
