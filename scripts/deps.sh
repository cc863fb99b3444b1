#!/usr/bin/env bash
# Installs the Debian packages skein needs, only those missing. Idempotent.
#   scripts/deps.sh            runtime: npm (to fetch Deno), iproute2, nftables, util-linux, ping
#   scripts/deps.sh --test     also the real peers the test suite starts: reference CNI plugins,
#                              etcd, iperf3, strace, jq, bird2, iptables (the fault tests' firewall),
#                              and the real CNI clients: libcni
#                              (Go sources + compiler for cnitool), podman, containerd, kubectl
set -euo pipefail
pkgs=(iproute2 nftables util-linux iputils-ping ca-certificates)
# npm only fetches Deno; any npm on PATH will do (Node.js may come from outside Debian).
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(containernetworking-plugins etcd-server etcd-client iperf3 strace jq bird2 procps iptables)
  pkgs+=(golang-go golang-github-appc-cni-dev podman crun conmon busybox-static containerd)
  # kubectl for the kube-apiserver tests: Debian's kubernetes-client unless one is on PATH
  # already (it conflicts with other kubectl packages).
  command -v kubectl >/dev/null 2>&1 || pkgs+=(kubernetes-client)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# Debian's etcd-server package starts a system etcd on the default ports; the tests start their
# own on free loopback ports, so the packaged service is not needed (and is left as it is).
