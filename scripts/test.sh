#!/usr/bin/env bash
# The test command: makes sure PostgreSQL and RabbitMQ run, then runs every test of the workspace
# against them (each test creates and drops its own database and RabbitMQ vhost).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
cargo test --workspace --locked "$@"
