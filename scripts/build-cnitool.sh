#!/usr/bin/env bash
# Builds `cnitool`, a small command line front end to the upstream CNI library (libcni), offline,
# into .tools/bin/cnitool. Idempotent: does nothing when the binary is already built from this
# script's version.
#
#   bash scripts/build-cnitool.sh [--install-deps]     prints the binary's path on stdout
#
# Needs Debian's golang-go (the compiler) and golang-github-appc-cni-dev (libcni and pkg/... under
# /usr/share/gocode/src; Debian does not package cnitool itself, so its main package is written
# below against libcni). --install-deps installs those two with apt-get when they are missing.
# The build runs in GOPATH mode (GO111MODULE=off) against /usr/share/gocode: no network.
#
# Usage of the tool (the same verbs, arguments and variables as upstream cnitool, plus a few):
#   cnitool add|check|del <network> <netns path>   AddNetworkList/CheckNetworkList/DelNetworkList
#   cnitool cached <network> <netns path>          prints libcni's cached result for the attachment
#   cnitool validate <network>                     ValidateNetworkList (VERSION of every plugin)
#   cnitool versions <plugin type>                 the plugin's VERSION answer as JSON
#   cnitool libversions                            the spec versions this libcni can parse
# Variables: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_ARGS, CAP_ARGS (JSON),
# CNI_IFNAME (default eth0), and the additions CNI_CACHE_DIR (libcni's cache dir, default
# /var/lib/cni) and CNI_CONTAINERID (default "cnitool-" + hash of the netns path, as upstream).
# A plugin error is printed on stdout as the plugin's JSON error ({"code","msg","details"}), any
# other error as text on stderr; both exit 1.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/.tools"
out="$tools/bin/cnitool"
stamp="$tools/bin/.cnitool.stamp"
gocode=/usr/share/gocode
libcni="$gocode/src/github.com/containernetworking/cni/libcni"

if [ "${1:-}" = "--install-deps" ]; then
  missing=()
  for p in golang-go golang-github-appc-cni-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "build-cnitool: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi

# The stamp: this script's own hash plus the libcni package version it was built against.
want="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1) $(dpkg-query -W -f='${Version}' \
  golang-github-appc-cni-dev 2>/dev/null || echo none)"
if [ -x "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null 2>&1 || {
  echo "build-cnitool: no Go compiler (apt-get install golang-go, or run with --install-deps)" >&2
  exit 3
}
[ -d "$libcni" ] || {
  echo "build-cnitool: libcni sources missing at $libcni (apt-get install golang-github-appc-cni-dev, or run with --install-deps)" >&2
  exit 3
}

mkdir -p "$tools/bin" "$tools/go-cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/skeincnitool"
cat >"$work/src/skeincnitool/main.go" <<'GO'
// cnitool for skein's tests: drives CNI plugins through the upstream library (libcni) the way a
// container runtime does. Written for skein against Debian's libcni; CLI compatible with the
// upstream cnitool.
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  cnitool add|check|del|cached <network> <netns path>
  cnitool validate <network>
  cnitool versions <plugin type>
  cnitool libversions
variables: NETCONFPATH CNI_PATH CNI_ARGS CAP_ARGS CNI_IFNAME CNI_CACHE_DIR CNI_CONTAINERID
`)
	os.Exit(2)
}

// fail prints a plugin's error as its JSON (so callers can read the CNI code), others as text.
func fail(err error) {
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		b, _ := json.Marshal(cniErr)
		fmt.Println(string(b))
	}
	fmt.Fprintf(os.Stderr, "cnitool: %v\n", err)
	os.Exit(1)
}

func printJSON(v interface{}) {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		fail(err)
	}
	fmt.Println(string(b))
}

// cniArgs parses CNI_ARGS "K1=V1;K2=V2" into pairs.
func cniArgs(s string) ([][2]string, error) {
	var out [][2]string
	if s == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ";") {
		kv := strings.SplitN(pair, "=", 2)
		if len(kv) != 2 || kv[0] == "" || kv[1] == "" {
			return nil, fmt.Errorf("invalid CNI_ARGS pair %q", pair)
		}
		out = append(out, [2]string{kv[0], kv[1]})
	}
	return out, nil
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx := context.Background()
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")),
		os.Getenv("CNI_CACHE_DIR"), nil)
	verb := os.Args[1]
	switch verb {
	case "libversions":
		printJSON(map[string]interface{}{"current": version.Current(),
			"supportedVersions": version.All.SupportedVersions()})
		return
	case "versions":
		if len(os.Args) != 3 {
			usage()
		}
		info, err := cni.GetVersionInfo(ctx, os.Args[2])
		if err != nil {
			fail(err)
		}
		printJSON(map[string]interface{}{"supportedVersions": info.SupportedVersions()})
		return
	}
	if len(os.Args) < 3 {
		usage()
	}
	netdir := os.Getenv("NETCONFPATH")
	if netdir == "" {
		netdir = "/etc/cni/net.d"
	}
	list, err := libcni.LoadConfList(netdir, os.Args[2])
	if err != nil {
		fail(err)
	}
	if verb == "validate" {
		caps, err := cni.ValidateNetworkList(ctx, list)
		if err != nil {
			fail(err)
		}
		printJSON(map[string]interface{}{"capabilities": caps})
		return
	}
	if len(os.Args) != 4 {
		usage()
	}
	netns, err := filepath.Abs(os.Args[3])
	if err != nil {
		fail(err)
	}
	args, err := cniArgs(os.Getenv("CNI_ARGS"))
	if err != nil {
		fail(err)
	}
	var capArgs map[string]interface{}
	if s := os.Getenv("CAP_ARGS"); s != "" {
		if err := json.Unmarshal([]byte(s), &capArgs); err != nil {
			fail(fmt.Errorf("CAP_ARGS: %w", err))
		}
	}
	ifName, ok := os.LookupEnv("CNI_IFNAME")
	if !ok {
		ifName = "eth0"
	}
	id := os.Getenv("CNI_CONTAINERID")
	if id == "" {
		sum := sha512.Sum512([]byte(netns))
		id = fmt.Sprintf("cnitool-%x", sum[:10])
	}
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: ifName, Args: args,
		CapabilityArgs: capArgs}
	switch verb {
	case "add":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		if err := res.Print(); err != nil {
			fail(err)
		}
	case "check":
		if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "del":
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "cached":
		res, err := cni.GetNetworkListCachedResult(list, rt)
		if err != nil {
			fail(err)
		}
		if res == nil {
			fail(fmt.Errorf("no cached result for %s %s %s", list.Name, id, ifName))
		}
		if err := res.Print(); err != nil {
			fail(err)
		}
	default:
		usage()
	}
}
GO

echo "build-cnitool: building $out (GOPATH mode against $gocode)" >&2
GO111MODULE=off GOPATH="$work:$gocode" GOCACHE="$tools/go-cache" GOFLAGS= CGO_ENABLED=0 \
  GOPROXY=off go build -trimpath -o "$out.new" skeincnitool
mv -f "$out.new" "$out"
printf '%s' "$want" >"$stamp"
echo "$out"
