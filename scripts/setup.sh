#!/usr/bin/env bash
# Installs what the repository needs on this machine: Debian data packages the tests read (WordNet 3.0,
# the openclipart SVG collection), timm's wheel (its ImageNet class lists, from PyPI), Node packages
# from the lockfile (npm registry only) and the generated proto types. Infrastructure (Kafka jars, ClickHouse) is installed by
# infra/infra.sh up. Idempotent: a second run with an unchanged lockfile does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "select needs Node.js 20 or newer (found $(node --version))" >&2
  exit 1
fi

# Debian packages: wordnet-base (the taxonomy is rebuilt from WordNet 3.0 and checked against the shipped
# table) and openclipart-svg (a real ~8,000-item image-text pool for the openclipart reader); kcat and
# protobuf-compiler are the clients that are not ours in the end-to-end test (dataset events read from Kafka and
# decoded with the published protos).
missing=()
# chromium renders the evaluator's HTML report headless in its test (screenshot, console errors).
# libjpeg62-turbo-dev: @select/datasets' JPEG decoder addon links libjpeg-turbo (the library Pillow decodes with).
for deb in wordnet-base openclipart-svg kcat protobuf-compiler chromium libjpeg62-turbo-dev; do
  dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" || missing+=("$deb")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo -n)
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

# timm's wheel holds the ImageNet class lists the taxonomy is built from; the taxonomy test rebuilds the
# table from it byte for byte.
timm_wheel=.work/cache/timm-1.0.31-py3-none-any.whl
if [ ! -f "$timm_wheel" ]; then
  echo "==> pip download timm==1.0.31 (class lists for the taxonomy check)"
  python3 -m pip download --quiet --no-deps --dest .work/cache timm==1.0.31
fi

# The project's Python environment (.work/py): timm training backend, sentence-encoder export, reference
# checks, interoperability clients, chdb. pip's cache serves PyTorch's big wheels after the first install.
bash scripts/python-env.sh >/dev/null

# grpcurl, a gRPC client that is not ours, for the reflection interop test (tools/interop): built from the
# Go module proxy into .work/bin. Needs Go >= 1.21 (it fetches the toolchain grpcurl asks for).
grpcurl_version=v1.9.4
grpcurl_stamp=.work/bin/.grpcurl-version
if [ ! -x .work/bin/grpcurl ] || [ "$(cat "$grpcurl_stamp" 2>/dev/null)" != "$grpcurl_version" ]; then
  go_bin=$(command -v go || true)
  [ -n "$go_bin" ] || [ ! -x /usr/local/go/bin/go ] || go_bin=/usr/local/go/bin/go
  if [ -z "$go_bin" ]; then
    echo "grpcurl (for the reflection interop test) is built with Go >= 1.21; install Go (https://go.dev/dl) and rerun" >&2
    exit 1
  fi
  echo "==> go install github.com/fullstorydev/grpcurl/cmd/grpcurl@${grpcurl_version} (into .work/bin)"
  GOBIN="$PWD/.work/bin" GOTOOLCHAIN=auto "$go_bin" install "github.com/fullstorydev/grpcurl/cmd/grpcurl@${grpcurl_version}"
  echo "$grpcurl_version" > "$grpcurl_stamp"
fi

# onnxruntime-node's postinstall only downloads CUDA providers from NuGet (linux/x64); the CPU binding ships in
# the package. package.json's allowScripts denies that script (npm 11); the variable, which the script reads,
# skips the download with an npm that has no allowScripts.
export ONNXRUNTIME_NODE_INSTALL=skip
# Native addons (hnswlib-node, usearch) build with node-gyp; point it at this Node's own headers so it
# never tries to download them.
node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
if [ -f "$node_prefix/include/node/node.h" ]; then
  export npm_config_nodedir="$node_prefix"
fi
stamp=node_modules/.select-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> npm ci (from package-lock.json)"
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

# npm 11 runs dependency install scripts only when allowed; make sure the native modules really load.
for mod in sharp:vision onnxruntime-node:inference usearch:vector-index hnswlib-node:vector-index; do
  name=${mod%%:*} pkg=${mod#*:}
  [ -d "packages/$pkg" ] || continue
  (cd "packages/$pkg" && node -e "require('$name')" 2>/dev/null) || {
    echo "$name did not load; rebuilding it" >&2
    npm rebuild "$name"
    (cd "packages/$pkg" && node -e "require('$name')")
  }
done

echo "==> generating proto types"
NX_DAEMON=false npx nx run @select/contracts:codegen --outputStyle=static >/dev/null
