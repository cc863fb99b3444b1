#!/usr/bin/env bash
# Builds the Kubernetes binaries skein's tests run against (kube-apiserver first; kubelet,
# kube-scheduler and kube-controller-manager on request) from Debian bookworm's `kubernetes`
# source package, offline (no Go module proxy), and caches them by version.
#
#   bash scripts/build-kube.sh [--print-dir] [BINARY ...]   # default: kube-apiserver
#
# Prints the directory holding the binaries on stdout (everything else goes to stderr).
# Cache: $SKEIN_KUBE_CACHE (default /var/cache/skein/kube)/<version>/bin. A binary already in the
# cache is not rebuilt. The build tree (about 1.3 GB of Go cache) is removed afterwards.
#
# Why these steps (shared/DESIGN.md): no kube-apiserver is packaged, but the source package is the
# full upstream v1.20.2 tree with vendor/, which builds with Debian's Go 1.19 once the vendored
# modern-go/reflect2 1.0.1 (broken on Go >= 1.18) is replaced by Debian's 1.0.2 copy.
set -euo pipefail

DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
KUBE_VERSION="v1.20.2"
cache="${SKEIN_KUBE_CACHE:-/var/cache/skein/kube}/$KUBE_VERSION"
bindir="$cache/bin"

wanted=()
for a in "$@"; do
  case "$a" in
  --print-dir) ;;
  kube-apiserver | kubelet | kube-scheduler | kube-controller-manager) wanted+=("$a") ;;
  *)
    echo "build-kube: unknown argument '$a' (kube-apiserver, kubelet, kube-scheduler, kube-controller-manager)" >&2
    exit 2
    ;;
  esac
done
[ ${#wanted[@]} -gt 0 ] || wanted=(kube-apiserver)

missing=()
for b in "${wanted[@]}"; do
  [ -x "$bindir/$b" ] || missing+=("$b")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bindir"
  exit 0
fi

log() { echo "build-kube: $*" >&2; }
export DEBIAN_FRONTEND=noninteractive

src_list=/etc/apt/sources.list.d/skein-kube-src.sources
if [ ! -f "$src_list" ]; then
  log "adding a deb-src entry for bookworm ($src_list)"
  cat >"$src_list" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq >&2
fi
need=()
for p in golang-go make rsync golang-github-modern-go-reflect2-dev dpkg-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get install -y -qq "${need[@]}" >&2
fi

work="$(mktemp -d /var/tmp/skein-kube-build.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
log "downloading the kubernetes=$DEB_VERSION source package"
apt-get source --download-only "kubernetes=$DEB_VERSION" >&2
orig="$(ls kubernetes_*.orig.tar.* | head -n 1)"
mkdir tree
tar -xf "$orig" -C tree --strip-components=1
reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
[ -d "$reflect2" ] || {
  log "Debian's reflect2 sources are not at $reflect2"
  exit 1
}
rm -f tree/vendor/github.com/modern-go/reflect2/*.go
cp "$reflect2"/*.go tree/vendor/github.com/modern-go/reflect2/

export GOFLAGS=-mod=vendor GOPROXY=off GOCACHE="$work/gocache" GOPATH="$work/gopath"
mkdir -p "$bindir"
for b in "${missing[@]}"; do
  log "building $b $KUBE_VERSION (several minutes)"
  (cd tree && KUBE_GIT_VERSION="$KUBE_VERSION" make WHAT="cmd/$b" >&2)
  install -m 0755 "tree/_output/bin/$b" "$bindir/$b.tmp"
  mv "$bindir/$b.tmp" "$bindir/$b"
  log "cached $bindir/$b"
done
echo "$bindir"
