#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and RabbitMQ answer on localhost; start any that is down.
# On this project's machines they run already; this only mends a stopped one.
set -uo pipefail

wait_for() {  # name, check command
  for _ in $(seq 1 60); do eval "$2" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "ensure_services: $1 did not come up" >&2; return 1
}

pg_ok="pg_isready -h 127.0.0.1 -p 5432 -q"
if ! eval "$pg_ok"; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
fi
wait_for PostgreSQL "$pg_ok" || exit 1
psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c "create database test"

redis_ok="redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG"
if ! eval "$redis_ok"; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
wait_for Redis "$redis_ok" || exit 1

rabbit_ok="(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null"
if ! eval "$rabbit_ok"; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached || true
fi
wait_for RabbitMQ "$rabbit_ok" || exit 1
echo "services: PostgreSQL, Redis, RabbitMQ up"
