#!/usr/bin/env bash
# Captures the BGP messages BIRD 2 sends (OPEN, KEEPALIVE, UPDATE, End-of-RIB, NOTIFICATION) on
# loopback inside a throwaway network namespace, into bird_messages.json beside this script:
#   sudo bash backends/bgp/testdata/capture_bird.sh
# BIRD runs with its own control socket and configuration (bird_capture.conf); the peer is
# capture_peer.ts. Nothing leaves the namespace; the namespace and BIRD are removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns="skbgpcap$$"
tmp=$(mktemp -d)
cleanup() {
  [ -f "$tmp/bird.pid" ] && kill "$(cat "$tmp/bird.pid")" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" bird -c "$here/bird_capture.conf" -s "$tmp/bird.ctl" -P "$tmp/bird.pid"
ip netns exec "$ns" timeout 30 deno run -A --no-prompt "$here/capture_peer.ts" \
  "$here/bird_messages.json" "$tmp/bird.ctl"
bird --version 2>&1 | head -1
