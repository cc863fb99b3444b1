#!/usr/bin/env bash
# Captures the rulesets nft_eval_test.ts judges, as nft itself writes them: each NAME.nft beside
# this script is loaded with `nft -f` (and each NAME.iptables run, one iptables-nft command a line)
# inside a throwaway network namespace, and `nft -j list ruleset` is written to NAME.json
# (`iptables-nft-save` to NAME.save, `nft list ruleset` to NAME.txt for netdev tables). The
# namespace has a veth pair eth0/eth0p for netdev chains; it is deleted on exit. Never touches
# the root namespace.
#   sudo bash diagnose/testdata/capture_nft.sh [NAME...]   (default: every .nft and .iptables)
# CAPTURE_NS sets the namespace name's prefix (default sknftcap).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$here"/*.nft "$here"/*.iptables; do
    [ -e "$f" ] && names+=("$(basename "${f%.*}")")
  done
fi
for name in "${names[@]}"; do
  ns="${CAPTURE_NS:-sknftcap}-$$"
  ip netns add "$ns"
  trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
  ip -n "$ns" link add eth0 type veth peer name eth0p
  if [ -f "$here/$name.nft" ]; then ip netns exec "$ns" nft -f "$here/$name.nft"; fi
  if [ -f "$here/$name.iptables" ]; then
    while IFS= read -r line; do
      case "$line" in "" | "#"*) continue ;; esac
      eval "ip netns exec $ns iptables-nft $line"
    done <"$here/$name.iptables"
    ip netns exec "$ns" iptables-nft-save | grep -v '^#' >"$here/$name.save"
  fi
  # jq's layout is deno fmt's.
  ip netns exec "$ns" nft -j list ruleset | jq . >"$here/$name.json"
  if grep -q '^table netdev' "$here/$name.nft" 2>/dev/null; then
    ip netns exec "$ns" nft list ruleset >"$here/$name.txt"
  fi
  ip netns del "$ns"
  echo "$name: $(grep -c '"rule"' "$here/$name.json") rules"
done
nft --version
