#!/usr/bin/env bash
# Builds skein and installs it as a command and as a CNI plugin.
#
#   bash install.sh [--prefix DIR] [--bin-dir DIR] [--cni-bin-dir DIR] [--no-deps]
#
# - Makes sure the pinned Deno is there (from the npm registry, see scripts/ensure-deno.sh) and
#   the Debian packages skein needs at run time (scripts/deps.sh; skip with --no-deps).
# - Copies the sources and a private copy of Deno to <prefix>/lib/skein and caches the module
#   graph there (DENO_DIR=<prefix>/lib/skein/cache), so nothing is fetched at run time.
# - Builds a single `deno compile` binary when the compile runtime can be had (online, or offline
#   through DENORT_BIN=/path/to/denort); otherwise writes a small launcher that runs the same cached
#   module graph with `deno run --cached-only`. It says which of the two it built.
# - Installs `skein` into the bin dir (default <prefix>/bin) and the CNI bin dir (default
#   /opt/cni/bin). Nothing else outside those three directories is touched.
set -euo pipefail

prefix=/usr/local
bin_dir=""
cni_bin_dir=/opt/cni/bin
deps=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --cni-bin-dir) cni_bin_dir="$2"; shift 2 ;;
    --no-deps) deps=0; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$bin_dir" ] || bin_dir="$prefix/bin"
# The launcher records absolute paths: resolve relative ones now.
abs() { mkdir -p "$1" && (cd "$1" && pwd); }
prefix="$(abs "$prefix")" bin_dir="$(abs "$bin_dir")" cni_bin_dir="$(abs "$cni_bin_dir")"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ "$deps" = 1 ] && bash "$repo/scripts/deps.sh"
deno="$(bash "$repo/scripts/ensure-deno.sh")"

lib="$prefix/lib/skein"
src="$lib/src"
echo "install.sh: staging sources in $src" >&2
mkdir -p "$lib"
stage="$(mktemp -d "$lib/.src.XXXXXX")"
chmod 0755 "$stage" # mktemp makes it 0700: every user may run `skein --help`, `skein version`
# Everything the program needs: its TypeScript modules (not the tests), deno.json and deno.lock,
# the launcher's VERSION answer and forwarding client (cni/version_fast.sh, cni/forward_fast.pl),
# and the Kubernetes manifest `skein lab up --kubernetes` applies (deploy/kubernetes/skein.yaml).
(cd "$repo" && find . \( -path ./.tools -o -path ./dist -o -path ./tests -o -path ./.git \) -prune \
  -o \( -name '*.ts' ! -name '*_test.ts' -o -name deno.json -o -name deno.lock \
  -o -name version_fast.sh -o -name forward_fast.pl -o -path './deploy/kubernetes/*.yaml' \) \
  -print0) |
  (cd "$repo" && tar --null -T - -cf -) | tar -xf - -C "$stage"
rm -rf "$src.old"
[ -d "$src" ] && mv "$src" "$src.old"
mv "$stage" "$src"
rm -rf "$src.old"

install -m 0755 "$deno" "$lib/deno.new" && mv -f "$lib/deno.new" "$lib/deno"
export DENO_DIR="$lib/cache" DENO_NO_UPDATE_CHECK=1
echo "install.sh: caching the module graph in $DENO_DIR" >&2
# main.ts imports cmd/*.ts through run-time specifiers (see importCommand()), so name them here,
# and the daemon's lease-renewal worker (started with new Worker(URL), not an import).
"$lib/deno" cache --quiet --config "$src/deno.json" "$src/main.ts" "$src"/cmd/*.ts \
  "$src/daemon/renew_worker.ts"
# The in-process CNI path as one module (deno bundle of cmd/cni.ts): loading its ~60 modules
# one by one costs ~10 ms of CPU per plugin call (tests/bench/cni_bench.ts with SKEIN_BIN). The
# launcher names $lib (SKEIN_LIB) and main.ts imports $lib/cni.js when it is there. Minified
# (256 -> 122 kB): less to hash and deserialize from the code cache, ~1.4 ms of CPU per
# in-process call (3 x 12 ADDs and DELs); every error class sets its own name.
rm -f "$lib/cni.js"
"$lib/deno" bundle --quiet --minify --config "$src/deno.json" -o "$lib/cni.js.new" \
  "$src/cmd/cni.ts" &&
  mv -f "$lib/cni.js.new" "$lib/cni.js" ||
  echo "install.sh: could not bundle the CNI path; plugins load it module by module" >&2
# A container runtime's call starts main.ts as one bundled module (main.js beside it, so its
# run-time imports of cmd/*.ts still resolve) without deno.json: no config, lock file or
# TypeScript emit cache to read, ~3 ms of CPU less per plugin call, which is most of what the
# daemon-served path costs beyond Deno's own start (tests/bench/cni_bench.ts with SKEIN_BIN).
# The CNI modules need no import map: the in-process path is cni.js, or cmd/cni.ts's graph.
# V8's --no-lazy compiles every function of a module when it loads, so V8's code cache in
# DENO_DIR (written on the first run, warmed below) holds them all: later calls deserialize
# instead of compiling function by function. In-process ADD/DEL ~7 / ~4 ms of CPU less (perf
# stat, 12 calls each: 40 -> 33, 35 -> 31 ms); the forwarding client is unchanged (~21 ms).
# V8's --jitless: a plugin process lives ~40 ms, too short for its baseline and optimizing
# compilers to pay back; without them it runs the bytecode from the code cache and maps no
# executable memory. In-process ADD/DEL ~2.7 / ~1.8 ms of CPU and ~3 ms of wall time less
# (40 interleaved calls each: 32.5 -> 29.8, 30.5 -> 28.7 ms CPU; ADD 34.6 -> 31.6 ms).
# The code cache is only used with the flags it was made with: warm it with the same command.
cni_run="'$lib/deno' run --quiet --cached-only --no-prompt -A --config '$src/deno.json' '$src/main.ts'"
rm -f "$src/main.js"
if "$lib/deno" bundle --quiet --config "$src/deno.json" -o "$src/main.js.new" "$src/main.ts"; then
  mv -f "$src/main.js.new" "$src/main.js"
  cni_run="'$lib/deno' run --quiet --no-config --no-prompt -A --v8-flags=--no-lazy,--jitless '$src/main.js'"
else
  echo "install.sh: could not bundle main.ts; plugin calls load it with deno.json" >&2
fi
# A plugin call has a DENO_DIR of its own ($lib/cni-cache) that only plugin calls write: Deno
# keeps V8's code cache in an SQLite database in write-ahead-log mode, and its processes exit
# without folding the log back in, so each new process rebuilds the log's index by reading all
# of it. The daemon's or any other command's first run would append its modules' code (~0.5 MB)
# to a shared log and every plugin call after it would read that: ~6 ms of in-process ADD
# (tests/bench/cni_bench.ts with SKEIN_BIN, 45.6 -> 38.9 ms median of 20).
cni_cache="$lib/cni-cache"
rm -rf "$cni_cache"
# Warm V8's code cache for the plugin's entry and the in-process path (a DEL without a
# container id: cni.js loads, answers code 4 and changes nothing), so the first pod is quick.
# The second DEL finds the cache filled, and Deno's `PRAGMA optimize` then writes the tables'
# statistics once: here, not in the first pod's ADD.
for cmd in VERSION DEL DEL; do
  (cd / && eval "env -i CNI_COMMAND=$cmd CNI_PATH=/nonexistent SKEIN_CNI_SOCKET=off \
    DENO_DIR='$cni_cache' SKEIN_LIB='$lib' $cni_run" </dev/null >/dev/null 2>&1) || true
done
# Then fold the warm-up's log into the databases (a checkpoint; closing the last connection
# removes the log), so plugin calls start with an empty one. Run with a throwaway DENO_DIR: this
# script's own code cache must not land in the plugin's.
scratch="$(mktemp -d)"
for db in "$cni_cache"/*_v[0-9]; do
  [ -f "$db-wal" ] || continue
  DENO_DIR="$scratch" "$lib/deno" eval --quiet 'import { DatabaseSync } from "node:sqlite";
    const db = new DatabaseSync(Deno.args[0]); db.exec("PRAGMA wal_checkpoint(TRUNCATE)"); db.close();' \
    "$db" || echo "install.sh: could not checkpoint $db; plugin calls read its log" >&2
done
rm -rf "$scratch"

build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
kind=""
# The compiled binary runs with the V8 flags baked in here (one may not read DENO_V8_FLAGS:
# denoland/deno#19808): --optimize-for-size, as the launcher starts the daemon. Without it V8
# grows the daemon's young generation under a big reconcile's garbage and keeps it (10,000 BGP
# routes: ~124 -> ~88 MiB mean RSS, tests/bench/bgp_bench.ts); `skein version` starts as fast.
if NO_COLOR=1 "$lib/deno" compile --quiet -A --no-check --v8-flags=--optimize-for-size \
  --config "$src/deno.json" --output "$build/skein" \
  --include "$src/cmd" --include "$src/daemon/renew_worker.ts" "$src/main.ts" >"$build/compile.log" 2>&1; then
  kind="compiled binary (deno compile${DENORT_BIN:+, runtime from DENORT_BIN=$DENORT_BIN})"
else
  # The deepest "Caused by" line names the real reason (e.g. the runtime download failing).
  reason="$(grep -E '^ +[0-9]+: ' "$build/compile.log" | grep -v '<unknown>' | head -n 2 | tail -n 1 |
    sed -E 's/^ +[0-9]+: //' || true)"
  echo "install.sh: deno compile is not possible here (${reason:-no runtime}); using the launcher" >&2
  cat >"$build/skein" <<LAUNCHER
#!/bin/sh
# skein launcher written by install.sh: runs skein's cached module graph with a private Deno.
# (deno compile's runtime, denort, was not available when this was built.)
DENO_DIR='$lib/cache' DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 SKEIN_LIB='$lib'
export DENO_DIR DENO_NO_UPDATE_CHECK DENO_NO_PROMPT SKEIN_LIB
# The daemon trades a little CPU for memory: V8's --optimize-for-size keeps its heap tight
# (5,000 leases: ~126 -> ~85 MiB mean RSS, tests/bench/daemon_bench.ts --daemon-v8-flags).
v8=
[ "\${1:-}" = daemon ] && v8=--v8-flags=--optimize-for-size
# A container runtime's call (CNI_COMMAND set, no arguments): the plugin's own entry.
if [ -n "\${CNI_COMMAND:-}" ] && [ \$# -eq 0 ]; then
  # Plugin calls' own code cache (see install.sh): nothing else writes to it.
  DENO_DIR='$cni_cache'
  # VERSION (podman asks before every ADD and DEL) without starting Deno, when stdin allows.
  if [ "\$CNI_COMMAND" = VERSION ]; then
    . '$src/cni/version_fast.sh'
    printf '%s' "\$skein_stdin" | $cni_run
    exit \$?
  fi
  # When a daemon may serve the call (SKEIN_CNI_SOCKET names a socket, or the node lease file
  # is there), its answer without starting Deno: cni/forward_fast.pl, ~2 ms of CPU where the
  # Deno client costs ~17. It execs the Deno entry for anything the daemon does not answer.
  if [ -x /usr/bin/perl ] && { [ -S "\${SKEIN_CNI_SOCKET:-/}" ] ||
    { [ -z "\${SKEIN_CNI_SOCKET+x}" ] && [ -f /run/skein/subnet.json ]; }; }; then
    exec /usr/bin/perl '$src/cni/forward_fast.pl' $cni_run
  fi
  exec $cni_run
fi
exec '$lib/deno' run --quiet --cached-only --no-prompt -A \${v8:+"\$v8"} --config '$src/deno.json' '$src/main.ts' "\$@"
LAUNCHER
  chmod 0755 "$build/skein"
  kind="launcher (deno run --cached-only of $src/main.ts)"
fi

for d in "$bin_dir" "$cni_bin_dir"; do
  mkdir -p "$d"
  install -m 0755 "$build/skein" "$d/.skein.new" && mv -f "$d/.skein.new" "$d/skein"
done
"$bin_dir/skein" version >/dev/null
echo "install.sh: installed skein as a $kind" >&2
echo "install.sh:   $bin_dir/skein" >&2
echo "install.sh:   $cni_bin_dir/skein (CNI plugin)" >&2
