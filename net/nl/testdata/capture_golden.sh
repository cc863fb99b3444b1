#!/usr/bin/env bash
# Prints, as hex, every netlink request an iproute2 command sends (strace's sendmsg dump).
# Runs the command inside a throwaway namespace and deletes it; never touches the root namespace.
#   usage: bash net/nl/testdata/capture_golden.sh ip link add v0 type veth peer name v1
# Setup commands to run first in the same namespace can be given in $SETUP (one per line).
set -euo pipefail
ns="skgold-$$"
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
if [ -n "${SETUP:-}" ]; then
  while IFS= read -r line; do [ -n "$line" ] && ip netns exec "$ns" $line >/dev/null; done <<<"$SETUP"
fi
ip netns exec "$ns" strace -f -e trace=sendmsg -e write=all -xx -s 0 "$@" 2>&1 >/dev/null |
  awk '/^sendmsg\(/ { if (hex != "") print hex; hex = "" ; next }
       /^ \| [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]  / { line = substr($0, 11, 49); gsub(/ /, "", line); hex = hex line }
       END { if (hex != "") print hex }'
