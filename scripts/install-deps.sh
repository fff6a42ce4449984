#!/usr/bin/env bash
# Installs what `make test`, `make lint` and `make bench` need on a fresh
# Debian machine: curl and dig (dnsutils; the dev test runs the printed curl
# command and asks the built-in DNS with dig), iproute2 (`ip`: the
# private-endpoint test builds network namespaces when run as root), wrk
# (the proxy benchmarks' load tool), nginx-light (the edge benchmark's
# proxy_cache reference; the driver runs its own nginx from a temporary
# config, the packaged service is not used), dnsperf (the DNS benchmark's
# load tool; that benchmark builds its CoreDNS from the Go module proxy),
# taskset (util-linux, essential on Debian: `edgebench -pin` pins servers
# and wrk to CPUs with it) and staticcheck (pinned).
# Idempotent; run as root or with sudo. Only the Debian archive and the Go
# module proxy are contacted.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# nginx lives in /usr/sbin, which is not on every user's PATH.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v dig >/dev/null 2>&1 || need+=(dnsutils)
command -v dnsperf >/dev/null 2>&1 || need+=(dnsperf)
# ip lives in /usr/sbin too.
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need+=(iproute2)
command -v make >/dev/null 2>&1 || need+=(make)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# staticcheck, pinned: the module proxy here can refuse @latest.
STATICCHECK_VERSION=v0.8.2
if [ ! -x bin/staticcheck ] || ! bin/staticcheck -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  GOBIN="$PWD/bin" go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
fi
