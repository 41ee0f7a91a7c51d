#!/usr/bin/env bash
# Re-pins this module to another k8s.io/kubernetes release: `e2e/go/kube/pin.sh v1.37.3`.
# kubernetes' go.mod replaces every staging module (k8s.io/api, k8s.io/apiserver, ...) with
# ./staging/src/...; a dependent module must pin each to the matching v0.x itself. The list is read
# from that go.mod, because new staging modules appear between releases.
set -euo pipefail
cd "$(dirname "$0")"
version="${1:?usage: pin.sh vMAJOR.MINOR.PATCH}"
staging="v0.${version#v1.}"
gomod="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
{
  sed '/^require k8s.io\/kubernetes /,$d' go.mod
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  awk -v v="$staging" '$2=="=>" && $3 ~ /^\.\/staging\// {print "\t" $1 " => " $1 " " v}' "$gomod"
  echo ")"
} > go.mod.new
mv go.mod.new go.mod
rm -f go.sum
GOFLAGS=-mod=mod go get -tool k8s.io/kubernetes/cmd/kube-apiserver
go mod tidy
