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

# Two lanes of `deno test` run at once, each its own process (its own environment, cwd and
# SKEIN_TEST_LANE, so tests/_netns.ts's per-file prefixes never collide across lanes): most of the
# namespace tests wait on daemons, timers and real peers, not on the CPU. Lane 1 holds every test
# that uses the machine's Kubernetes/containerd state (kubelet sysctls and lock, the image cache,
# /var/lib/cni, /opt/cni/bin, /run/containerd: the clients_* and k8s/kube tests) in this order,
# `lab up --kubernetes` last (its machine snapshot then starts from the state the other tests
# leave), plus long lab tests to balance the lanes' times; lane 2 runs every other test file,
# unit tests included. Each lane's output is live on stdout with a "[laneN] " prefix and kept
# whole; a failing lane's errors are printed again, unprefixed, at the end.
# `bash scripts/test.sh ARGS...` (e.g. a test file or --filter) runs one plain `deno test ARGS`.
LANE1=(
  tests/clients_containerd_test.ts
  tests/clients_libcni_test.ts
  tests/clients_podman_test.ts
  tests/clients_kubelet_test.ts
  tests/lab_k8s_images_test.ts
  tests/store_kube_test.ts
  tests/store_kube_outage_test.ts
  tests/daemon_kube_race_test.ts
  tests/lab_kube_test.ts
  tests/reliability_lab_test.ts
  tests/lab_test.ts
  tests/daemon_hang_test.ts
  tests/store_daemon_hostile_test.ts
  tests/udp_test.ts
  tests/hostile_crash_test.ts
  tests/lab_interrupt_test.ts
  tests/lab_k8s_test.ts
)
# Lane 2: everything else. A command-line --ignore replaces deno.json's "exclude", so it is
# repeated here (.tools/, dist/).
LANE2_IGNORE="$(IFS=,; echo ".tools/,dist/,${LANE1[*]}")"

echo "== deno test (unit and integration)"
before="$(ip netns list 2>/dev/null | awk '{print $1}' | sort)"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

# run_lane N ARGS...: `deno test -A --no-prompt ARGS` as lane N of 2; output to $logs/N.log and
# to stdout prefixed "[laneN] ", exit code to $logs/N.rc, wall time (s) to $logs/N.time.
run_lane() {
  local n="$1" t0="$SECONDS"
  shift
  {
    SKEIN_TEST_LANES=2 SKEIN_TEST_LANE="$((n - 1))" deno test -A --no-prompt "$@" 2>&1
    echo "$?" >"$logs/$n.rc"
  } | tee "$logs/$n.log" | sed -u "s/^/[lane$n] /"
  echo "$((SECONDS - t0))" >"$logs/$n.time"
}

set +e
if [ "$#" -gt 0 ]; then
  lanes=(1)
  deno test -A --no-prompt "$@" 2>&1 | tee "$logs/1.log"
  echo "${PIPESTATUS[0]}" >"$logs/1.rc"
else
  lanes=(1 2)
  run_lane 1 "${LANE1[@]}" &
  run_lane 2 --ignore="$LANE2_IGNORE" &
  wait
fi
set -e
rc=0
passed=0 failed=0 ignored=0
for n in "${lanes[@]}"; do
  lane_rc="$(cat "$logs/$n.rc" 2>/dev/null || echo 1)"
  # The lane's "ok | N passed (M steps) | N failed | N ignored (TIME)" line.
  summary="$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$logs/$n.log" | tail -n 1 || true)"
  if [ "${#lanes[@]}" -gt 1 ]; then
    echo "lane $n: exit $lane_rc after $(cat "$logs/$n.time" 2>/dev/null || echo '?') s: ${summary:-no summary}"
  fi
  if [ "$lane_rc" != 0 ]; then
    rc=1
    if [ "${#lanes[@]}" -gt 1 ]; then
      echo "== lane $n failed; its errors (the whole lane is above, prefixed [lane$n]):"
      if grep -q '^ ERRORS *$' "$logs/$n.log"; then
        sed -n '/^ ERRORS *$/,$p' "$logs/$n.log"
      else
        tail -n 80 "$logs/$n.log"
      fi
    fi
  fi
  passed=$((passed + $(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary" | grep . || echo 0)))
  failed=$((failed + $(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary" | grep . || echo 0)))
  ignored=$((ignored + $(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$summary" | grep . || echo 0)))
done

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
# One plain closing line for all lanes: "N passed, N failed, N skipped".
echo "tests: $passed passed, $failed failed, $ignored skipped"
exit "$rc"
