#!/usr/bin/env bash
# Starts the local PostgreSQL and RabbitMQ when they are installed but not running, and waits
# until both accept connections. Sourced by run-local.sh, test.sh and .ci/run.
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
amqp_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 60); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
fi

if ! amqp_up; then
  if command -v rabbitmq-server >/dev/null; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached || true
  fi
  for _ in $(seq 1 90); do amqp_up && break; sleep 1; done
  amqp_up || { echo "RabbitMQ is not reachable on 127.0.0.1:5672" >&2; exit 1; }
fi
if command -v rabbitmqctl >/dev/null; then
  rabbitmqctl -q await_startup >/dev/null 2>&1 || true
fi
