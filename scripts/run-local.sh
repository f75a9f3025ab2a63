#!/usr/bin/env bash
# Runs the whole service locally: PostgreSQL and RabbitMQ (started when installed but stopped),
# campaign-svc (creates and migrates the `marketing` database) and one dispatch-worker with the
# local `log` provider, so no vendor credentials are needed. Ctrl-C stops both binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
export API_TOKENS="${API_TOKENS:-dev-token}"
# Local secrets (set real ones in production): link signing shared by both binaries, webhooks.
export TRACKING_SECRET="${TRACKING_SECRET:-local-tracking-secret}"
export WEBHOOK_SECRET="${WEBHOOK_SECRET:-dev-webhook-secret}"
cargo build --locked --bins
./target/debug/campaign-svc &
svc=$!
trap 'kill $svc ${worker:-} 2>/dev/null; wait' EXIT INT TERM
for _ in $(seq 1 60); do curl -fs http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break; sleep 1; done
./target/debug/dispatch-worker &
worker=$!
echo "campaign-svc: REST http://127.0.0.1:8080  gRPC 127.0.0.1:50051  token: ${API_TOKENS%%,*}"
wait
