#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine as root:
#   installs what it needs (Debian packages, the pinned Deno), checks format, lint and types,
#   then runs the unit tests and the namespace-level integration tests.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/deps.sh --test
deno="$(bash scripts/ensure-deno.sh)"
export PATH="$(dirname "$deno"):$PATH" DENO_NO_UPDATE_CHECK=1 NO_COLOR=1

# The kubernetes datastore's tests run against a real kube-apiserver v1.20.2,
# tests/clients_kubelet_test.ts runs pods with a real kubelet v1.20.2, and `skein lab up
# --kubernetes` (tests/lab_k8s_test.ts) adds kube-scheduler and kube-controller-manager: all four
# built once per fresh machine from Debian's source package (cold: about 7 + 6 + 5.5 min on 2
# cores, cached under /var/cache/skein/kube/v1.20.2/bin; warm: an instant no-op). With
# SKEIN_REQUIRE_KUBE set those tests fail instead of skipping.
echo "== kube-apiserver, kubelet, kube-scheduler, kube-controller-manager (scripts/build-kube.sh)"
bash scripts/build-kube.sh kube-apiserver kubelet kube-scheduler kube-controller-manager
export SKEIN_REQUIRE_KUBE=1

echo "== deno fmt --check, deno lint, deno check"
deno fmt --check
deno lint
deno task check

echo "== deno test (unit and integration)"
before="$(ip netns list 2>/dev/null | awk '{print $1}' | sort)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
deno test -A --no-prompt "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
new_namespaces() {
  comm -13 <(echo "$before") <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | tr '\n' ' '
}
leaked="$(new_namespaces)"
if [ -n "${leaked// /}" ]; then
  # A leak stays; a namespace some other process on this machine is using right now goes away.
  sleep 5
  leaked="$(comm -12 <(tr ' ' '\n' <<<"$leaked" | sort) <(new_namespaces | tr ' ' '\n' | sort) |
    tr '\n' ' ')"
fi
if [ -n "${leaked// /}" ]; then
  echo "test.sh: the tests left network namespaces behind: $leaked" >&2
  rc=1
fi
# One plain closing line: "N passed, N failed, N skipped".
summary="$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1 || true)"
passed="$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")"
failed="$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")"
ignored="$(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$summary")"
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${ignored:-0} skipped"
exit "$rc"
