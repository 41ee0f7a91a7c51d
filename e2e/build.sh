#!/usr/bin/env bash
# Builds the e2e tier's real servers and tools from the Go modules under e2e/go/ into a cache
# outside git, one folder per tool keyed by a hash of that tool's pins:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/forkstack/e2e/<tool>-<hash>/
# A folder that is present and complete (it has its `ok` marker) is reused; a changed pin (go.mod,
# go.sum, its .go files, this script's build line, the Go version) gives a new hash and a fresh build.
# One folder per tool rather than one for all: bumping Pulumi must not rebuild kube-apiserver.
#
# Usage: e2e/build.sh [tool...]     (default: every tool); prints `tool=<dir>` lines on stdout.
# Builds run one after another under `nice`: the machines have 2 cores shared with other work.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${XDG_CACHE_HOME:-$HOME/.cache}/forkstack/e2e"
go_version="$(go env GOVERSION)"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# tool name -> "module dir|package|binary name|ldflags"; versions come from the pins themselves.
kube_version="$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$here/go/kube/go.mod")"
pulumi_version="$(awk '$1=="github.com/pulumi/pulumi/pkg/v3" {print $2}' "$here/go/pulumi/go.mod" 2>/dev/null || true)"

build_one() { # dir pkg bin ldflags
  local dir="$1" pkg="$2" bin="$3" ldflags="$4" out="$5"
  local start=$SECONDS
  echo "e2e build: $bin ($pkg) ..." >&2
  (cd "$here/go/$dir" && nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$out/$bin.tmp" "$pkg")
  mv "$out/$bin.tmp" "$out/$bin"
  echo "e2e build: $bin done in $((SECONDS - start))s" >&2
}

tool_dir() { # tool -> cache dir for its current pins
  local tool="$1" dir="$2"
  local hash
  # Every .go file of the module, subpackages and tests included (find|sort: the same bytes as the
  # old top-level *.go glob for modules without subpackages, so their hashes did not move).
  hash="$( { echo "$go_version"; sed -n "/^  $tool)/,/;;/p" "$0"; cat "$here/go/$dir"/go.mod "$here/go/$dir"/go.sum 2>/dev/null
    find "$here/go/$dir" -type f -name '*.go' | LC_ALL=C sort | while IFS= read -r f; do cat "$f"; done; } | sha256sum | cut -c1-16)"
  echo "$root/$tool-$hash"
}

build_tool() {
  local tool="$1" dir out
  case "$tool" in
  kube)
    dir=kube
    out="$(tool_dir kube "$dir")"
    if [ ! -e "$out/ok" ]; then
      mkdir -p "$out"
      # Without these the server reports v0.0.0-master, which clients (and Pulumi's provider) read.
      local minor="${kube_version#v1.}"; minor="${minor%%.*}"
      local v="-s -w -X k8s.io/component-base/version.gitVersion=$kube_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
      build_one "$dir" k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$v" "$out"
      touch "$out/ok"
    fi ;;
  etcd)
    dir=etcd
    out="$(tool_dir etcd "$dir")"
    if [ ! -e "$out/ok" ]; then
      mkdir -p "$out"
      build_one "$dir" go.etcd.io/etcd/server/v3 etcd "-s -w" "$out"
      touch "$out/ok"
    fi ;;
  pulumi)
    dir=pulumi
    out="$(tool_dir pulumi "$dir")"
    if [ ! -e "$out/ok" ]; then
      # <dir>/bin/pulumi: the layout the Automation API's PulumiCommand.get({ root }) expects.
      mkdir -p "$out/bin"
      local v="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version"
      build_one "$dir" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi pulumi "$v" "$out/bin"
      # The dynamic-provider plugin is a shell script shipped in the sdk/v3 module (nodejs/dist); the
      # engine finds it on PATH like any plugin.
      local sdk; sdk="$(cd "$here/go/$dir" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
      install -m 0755 "$sdk/nodejs/dist/pulumi-resource-pulumi-nodejs" "$out/bin/pulumi-resource-pulumi-nodejs"
      touch "$out/ok"
    fi ;;
  kubernetes-provider)
    dir=kubernetes-provider
    out="$(tool_dir kubernetes-provider "$dir")"
    if [ ! -e "$out/ok" ]; then
      mkdir -p "$out"
      local pv; pv="$(awk '$1=="//" && $2=="npm-version:" {print $3}' "$here/go/$dir/go.mod")"
      local v="-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$pv"
      # Build in a copy of the module folder that also holds the module's schema files (main.go
      # embeds them; they are generated upstream, so they stay out of git).
      local src="$out/src" mod
      rm -rf "$src"; mkdir -p "$src"
      cp "$here/go/$dir"/go.mod "$here/go/$dir"/go.sum "$here/go/$dir"/main.go "$src/"
      mod="$(cd "$src" && go mod download -json github.com/pulumi/pulumi-kubernetes/provider/v4 | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
      install -m 0644 "$mod/cmd/pulumi-resource-kubernetes/schema.json" "$mod/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$src/"
      local start=$SECONDS
      echo "e2e build: pulumi-resource-kubernetes ($pv) ..." >&2
      (cd "$src" && nice -n 10 go build -trimpath -ldflags "$v" -o "$out/pulumi-resource-kubernetes.tmp" .)
      mv "$out/pulumi-resource-kubernetes.tmp" "$out/pulumi-resource-kubernetes"
      echo "e2e build: pulumi-resource-kubernetes done in $((SECONDS - start))s" >&2
      rm -rf "$src"
      touch "$out/ok"
    fi ;;
  istio-crds)
    dir=istio
    out="$(tool_dir istio-crds "$dir")"
    if [ ! -e "$out/ok" ]; then
      mkdir -p "$out"
      local mod; mod="$(cd "$here/go/$dir" && go mod download -json istio.io/istio | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
      install -m 0644 "$mod/manifests/charts/base/files/crd-all.gen.yaml" "$out/crd-all.gen.yaml"
      touch "$out/ok"
    fi ;;
  istioctl)
    dir=istio
    out="$(tool_dir istioctl "$dir")"
    if [ ! -e "$out/ok" ]; then
      mkdir -p "$out"
      build_one "$dir" istio.io/istio/istioctl/cmd/istioctl istioctl "-s -w" "$out"
      touch "$out/ok"
    fi ;;
  istio-routes)
    # istiod's route generation + Envoy's route matching, offline (e2e/go/istio-routes/main.go);
    # its own module: pilot/test/xds needs modules istioctl does not.
    dir=istio-routes
    out="$(tool_dir istio-routes "$dir")"
    if [ ! -e "$out/ok" ]; then
      mkdir -p "$out"
      build_one "$dir" . istio-routes "-s -w" "$out"
      touch "$out/ok"
    fi ;;
  *) echo "e2e build: unknown tool $tool" >&2; return 2 ;;
  esac
  # Folders of this tool's earlier pins are never used again.
  local old
  for old in "$root/$tool"-*; do
    if [ -d "$old" ] && [ "$old" != "$out" ] && [[ "$(basename "$old")" =~ ^$tool-[0-9a-f]{16}$ ]]; then rm -rf "$old"; fi
  done
  echo "$tool=$out"
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(etcd kube istio-crds pulumi kubernetes-provider istioctl istio-routes)
for t in "${tools[@]}"; do build_tool "$t"; done
