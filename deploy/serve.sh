#!/usr/bin/env bash
# The production stack's server processes: WORKERS daphne processes on consecutive ports from
# PORT, all on HOST, for nginx (deploy/nginx.conf) to balance over. Stops them all on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
WORKERS="${WORKERS:-2}"

pids=""
stop() {
	trap - INT TERM EXIT
	# shellcheck disable=SC2086
	kill $pids 2>/dev/null || true
	wait
}
trap stop INT TERM EXIT

i=0
while [ "$i" -lt "$WORKERS" ]; do
	port=$((PORT + i))
	# --proxy-headers: log the client address nginx passes in X-Forwarded-For.
	# --websocket_timeout: close sockets after 12 h, inside CHANNEL_GROUP_EXPIRY (a day), so a
	# page left open reconnects and rejoins its groups before its membership expires.
	"$BIN/daphne" --proxy-headers --websocket_timeout 43200 -b "$HOST" -p "$port" \
		dashboard.asgi:application &
	pids="$pids $!"
	echo "server process $((i + 1))/$WORKERS on $HOST:$port (pid $!)"
	i=$((i + 1))
done
# One process dying takes the stack down, so a supervisor (systemd) notices and restarts it.
wait -n
