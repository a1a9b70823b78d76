#!/usr/bin/env bash
# Builds daprd, placement, scheduler and sentry of the pinned Dapr version
# into the folder $1, as the official release does (CGO off, tag
# allcomponents, version stamped), unless an official install of the same
# version is in ~/.dapr/bin, which the launcher then uses. Called by
# `make tools`.
set -euo pipefail
out=$1 version=$2 commit=$3
go=${GO:-go}

official=$HOME/.dapr/bin
if [ "$("$official/daprd" --version 2>/dev/null || true)" = "$version" ] \
  && [ -x "$official/placement" ] && [ -x "$official/scheduler" ] && [ -x "$official/sentry" ]; then
  echo "tools: using the Dapr $version installed in $official"
  exit 0
fi

cd "$(dirname "$0")"
echo "tools: downloading the modules of Dapr $version (several GB the first time)..."
"$go" mod download
echo "tools: building daprd, placement, scheduler, sentry $version (tag allcomponents; ~10 min the first time on 2 cores, seconds after)..."
ldflags="-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$version \
  -X github.com/dapr/dapr/pkg/buildinfo.gitcommit=$commit \
  -X github.com/dapr/dapr/pkg/buildinfo.gitversion=v$version \
  -X github.com/dapr/kit/logger.DaprVersion=$version"
# -v names each package as it is compiled: count them, so a user sees the
# first (long) build moving.
CGO_ENABLED=0 "$go" build -v -trimpath -tags allcomponents -ldflags "$ldflags" -o "$out/" \
  github.com/dapr/dapr/cmd/daprd github.com/dapr/dapr/cmd/placement github.com/dapr/dapr/cmd/scheduler \
  github.com/dapr/dapr/cmd/sentry 2>&1 \
  | awk '/^#|error|cannot|undefined/ {print; next} {n++} n % 250 == 0 {printf "tools:   %d packages compiled\n", n; fflush()}'
touch "$out/daprd" "$out/placement" "$out/scheduler" "$out/sentry"
echo "tools: daprd --version: $("$out/daprd" --version)"
