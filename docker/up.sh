#!/usr/bin/env bash
# Build the two project images and start the whole cluster; returns when every
# service's healthcheck passes. Stop with: docker compose -f docker/docker-compose.yml down
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec docker compose -f "$here/docker-compose.yml" up -d --build --wait "$@"
