#!/usr/bin/env bash
# The test command: makes sure PostgreSQL and RabbitMQ run, then runs every test of the workspace
# against them (each test creates and drops its own database and RabbitMQ vhost).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
# The console's unit tests (vitest) and build, and Debian's chromium for its browser tests.
bash scripts/console.sh --browser
(cd console && npm test)
# The binaries first: a test runs the README's run command (scripts/run-local.sh), whose own
# `cargo build` is then a no-op instead of relinking binaries other tests are starting.
cargo build --workspace --locked --bins
cargo test --workspace --locked "$@"
