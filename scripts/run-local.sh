#!/usr/bin/env bash
# Runs the whole service locally: PostgreSQL and RabbitMQ (started when installed but stopped),
# campaign-svc (creates and migrates the `marketing` database) and one dispatch-worker with the
# local `log` provider, so no vendor credentials are needed. Ctrl-C stops both binaries.
# Every setting of either binary can be given as an environment variable (see --help); the REST
# address probed for readiness follows HTTP_ADDR, and links in messages follow PUBLIC_BASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
export API_TOKENS="${API_TOKENS:-dev-token}"
# Local secrets (set real ones in production): link signing shared by both binaries, webhooks.
export TRACKING_SECRET="${TRACKING_SECRET:-local-tracking-secret}"
export WEBHOOK_SECRET="${WEBHOOK_SECRET:-dev-webhook-secret}"
export HTTP_ADDR="${HTTP_ADDR:-0.0.0.0:8080}"
export GRPC_ADDR="${GRPC_ADDR:-0.0.0.0:50051}"
# The REST address as a client reaches it: a wildcard host means this machine.
http_host="${HTTP_ADDR%:*}"
case "$http_host" in "" | 0.0.0.0 | "[::]") http_host=127.0.0.1 ;; esac
rest="http://$http_host:${HTTP_ADDR##*:}"
# Links in messages point at the REST port unless told otherwise (both binaries read this).
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-$rest}"
# The web console (console/dist, served at /console): npm ci when needed, then npm run build.
bash scripts/console.sh
cargo build --locked --bins
./target/debug/campaign-svc &
svc=$!
trap 'kill $svc ${worker:-} 2>/dev/null; wait' EXIT INT TERM
for _ in $(seq 1 60); do
  curl -fs "$rest/readyz" >/dev/null 2>&1 && break
  kill -0 "$svc" 2>/dev/null || { echo "campaign-svc exited during start-up" >&2; exit 1; }
  sleep 1
done
curl -fs "$rest/readyz" >/dev/null 2>&1 || { echo "campaign-svc is not ready on $rest" >&2; exit 1; }
./target/debug/dispatch-worker &
worker=$!
echo "campaign-svc: REST $rest  gRPC $GRPC_ADDR  links $PUBLIC_BASE_URL  token: ${API_TOKENS%%,*}"
wait
