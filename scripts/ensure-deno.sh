#!/usr/bin/env bash
# Makes sure the pinned Deno is available and prints its path on stdout.
# Installs it from the npm registry (package "deno") into $SKEIN_TOOLS_DIR
# (default: <repo>/.tools). Idempotent; touches nothing outside that directory.
set -euo pipefail
DENO_VERSION="2.9.6"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${SKEIN_TOOLS_DIR:-$repo/.tools}"
bin="$tools/node_modules/@deno/linux-x64-glibc/deno"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "^deno $DENO_VERSION "; then
  echo "$bin"
  exit 0
fi
command -v npm >/dev/null 2>&1 || {
  echo "ensure-deno: npm is required to install Deno $DENO_VERSION (apt-get install npm)" >&2
  exit 1
}
mkdir -p "$tools"
echo "ensure-deno: installing deno@$DENO_VERSION from the npm registry into $tools" >&2
npm install --silent --no-save --no-audit --no-fund --prefix "$tools" "deno@$DENO_VERSION" >&2
# The npm package's postinstall may be skipped; the platform package carries the binary.
[ -x "$bin" ] || bin="$tools/node_modules/deno/deno"
"$bin" --version | grep -q "^deno $DENO_VERSION " || {
  echo "ensure-deno: installed Deno is not $DENO_VERSION" >&2
  exit 1
}
echo "$bin"
