#!/usr/bin/env bash
# Checks the REST API against its own OpenAPI document: validates the document served at
# /api/marketing/openapi.json (OpenAPI 3.1), then runs schemathesis with every check against a
# campaign-svc of its own (a free port, a fresh database and RabbitMQ vhost) with a bearer token.
# Any failure fails the script. Leaves nothing behind: the service is stopped, its database and
# vhost dropped.
#
# scripts/schemathesis.toml says where the API is right to answer what a check would not expect;
# scripts/schemathesis_hooks.py makes each valid Idempotency-Key unique.
# Environment: SCHEMATHESIS_MAX_EXAMPLES (test cases per operation and phase, default 25),
# SCHEMATHESIS_MAX_TIME (seconds for the whole run, default 300), SCHEMATHESIS_VENV (where the
# pinned schemathesis is installed from PyPI when missing; default under ~/.cache). Extra
# arguments go to `schemathesis run` (e.g. --include-path-regex '^/api/marketing/campaigns').
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

SCHEMATHESIS_VERSION=4.32.5
SPEC_VALIDATOR_VERSION=0.9.0
venv="${SCHEMATHESIS_VENV:-$HOME/.cache/crm-schemathesis/$SCHEMATHESIS_VERSION}"
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" ||
  ! "$venv/bin/python" -c "import openapi_spec_validator" 2>/dev/null; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$SPEC_VALIDATOR_VERSION"
fi

cargo build --locked --bin campaign-svc

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
run_id="st_$(date +%s)_$$"
http_port=$(free_port)
grpc_port=$(free_port)
base="http://127.0.0.1:$http_port"
token="schemathesis-$run_id"
workdir=$(mktemp -d)
svc=""

cleanup() {
  if [ -n "$svc" ]; then
    kill "$svc" 2>/dev/null || true
    wait "$svc" 2>/dev/null || true
  fi
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS $run_id WITH (FORCE)" >/dev/null 2>&1 || true
  rabbitmqctl -q delete_vhost "$run_id" >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A vhost of its own, so the send jobs of the campaigns it triggers go nowhere else.
rabbitmqctl -q add_vhost "$run_id" >/dev/null
rabbitmqctl -q set_permissions -p "$run_id" guest '.*' '.*' '.*' >/dev/null

DATABASE_URL="postgres://postgres@127.0.0.1:5432/$run_id" \
  AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$run_id" \
  HTTP_ADDR="127.0.0.1:$http_port" GRPC_ADDR="127.0.0.1:$grpc_port" \
  PUBLIC_BASE_URL="$base" API_TOKENS="$token" \
  TRACKING_SECRET="schemathesis-tracking" WEBHOOK_SECRET="schemathesis-webhooks" \
  ADMIN_TOKENS="$token" ALIYUN_CALLBACK_TOKEN="schemathesis-aliyun" TENCENT_CALLBACK_TOKEN="schemathesis-tencent" \
  TWILIO_AUTH_TOKEN="schemathesis-twilio" WECHAT_CALLBACK_TOKEN="schemathesis-wechat" \
  RUST_LOG="${RUST_LOG:-warn}" \
  ./target/debug/campaign-svc >"$workdir/campaign-svc.log" 2>&1 &
svc=$!
for _ in $(seq 1 60); do
  curl -fs "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$svc" 2>/dev/null || { cat "$workdir/campaign-svc.log" >&2; echo "campaign-svc exited during start-up" >&2; exit 1; }
  sleep 1
done
curl -fs "$base/readyz" >/dev/null || { cat "$workdir/campaign-svc.log" >&2; echo "campaign-svc is not ready on $base" >&2; exit 1; }

curl -fsS "$base/api/marketing/openapi.json" -o "$workdir/openapi.json"
"$venv/bin/openapi-spec-validator" --schema 3.1 "$workdir/openapi.json"

status=0
repo=$(pwd)
# From the scratch directory: schemathesis keeps a cache of what it found where it runs.
cd "$workdir"
SCHEMATHESIS_HOOKS="$repo/scripts/schemathesis_hooks.py" \
  "$venv/bin/st" --config-file "$repo/scripts/schemathesis.toml" run "$base/api/marketing/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-300}" \
  --request-timeout 60 \
  --workers 1 \
  --seed "${SCHEMATHESIS_SEED:-20261202}" \
  --generation-database none \
  --no-color \
  "$@" || status=$?
cd "$repo"
if [ "$status" -ne 0 ]; then
  echo "schemathesis found failures (exit $status); campaign-svc's log:" >&2
  grep -E -A12 "internal error|panicked" "$workdir/campaign-svc.log" | tail -80 >&2 || true
fi
exit "$status"
