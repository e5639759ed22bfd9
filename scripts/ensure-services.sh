#!/usr/bin/env bash
# Makes sure Redis answers on 127.0.0.1:$REDIS_PORT and PostgreSQL (user
# postgres, trust auth, database postgres) on 127.0.0.1:$PG_PORT.
#
#   scripts/ensure-services.sh [ensure]   # default: check, start what is missing
#   scripts/ensure-services.sh status     # check only; exit 1 if one does not answer
#   scripts/ensure-services.sh stop       # stop the throwaway instances this script
#                                         # started on REDIS_PORT/PG_PORT (never others)
#
# When a service does not answer, it installs the Debian package if missing
# (apt-get install -y redis-server / postgresql; needs root) and starts a
# throwaway instance bound to 127.0.0.1, with its files under
# $SERVICES_DIR/redis-PORT or $SERVICES_DIR/pg-PORT. Quick when both answer.
#
# Environment:
#   REDIS_PORT    default 6379
#   PG_PORT       default 5432
#   SERVICES_DIR  default /tmp/kinesis-host-services
#   SKIP_REDIS=1 / SKIP_PG=1   leave that service alone
set -euo pipefail

REDIS_PORT="${REDIS_PORT:-6379}"
PG_PORT="${PG_PORT:-5432}"
SERVICES_DIR="${SERVICES_DIR:-/tmp/kinesis-host-services}"
HOST=127.0.0.1

log() { printf 'ensure-services: %s\n' "$*" >&2; }
die() { printf 'ensure-services: ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# redis_ok PORT: a Redis server answers PING with PONG (no password).
redis_ok() {
	local port=$1
	if command -v redis-cli >/dev/null 2>&1; then
		[[ "$(timeout 3 redis-cli -h "$HOST" -p "$port" ping 2>/dev/null)" == PONG ]]
		return
	fi
	timeout 3 bash -c '
		exec 3<>/dev/tcp/'"$HOST"'/'"$port"' || exit 1
		printf "PING\r\n" >&3
		IFS= read -r -t 2 line <&3 || exit 1
		[[ $line == +PONG* ]]' 2>/dev/null
}

# pg_ok PORT: PostgreSQL accepts user postgres without a password.
pg_ok() {
	local port=$1
	if command -v psql >/dev/null 2>&1; then
		[[ "$(PGCONNECT_TIMEOUT=3 timeout 5 psql "host=$HOST port=$port user=postgres dbname=postgres sslmode=disable" \
			-w -Atqc 'select 1' 2>/dev/null)" == 1 ]]
		return
	fi
	# No client installed: a listening port is the best we can check.
	port_open "$port"
}

APT_UPDATED=0
apt_install() {
	is_root || die "package(s) $* missing and not running as root: install them (apt-get install -y $*) or start the service yourself"
	command -v apt-get >/dev/null 2>&1 || die "package(s) $* missing and no apt-get here: install them yourself"
	export DEBIAN_FRONTEND=noninteractive
	if [[ $APT_UPDATED == 0 ]]; then
		log "apt-get update"
		apt-get update -qq >&2 || log "apt-get update failed; trying the install anyway"
		APT_UPDATED=1
	fi
	log "apt-get install -y $*"
	apt-get install -y -qq "$@" >&2 || die "apt-get install -y $* failed"
}

wait_for() { # wait_for SECONDS CMD...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# ---------------------------------------------------------------- Redis

ensure_redis() {
	local port=$REDIS_PORT
	if redis_ok "$port"; then
		return 0
	fi
	if port_open "$port"; then
		die "something listens on $HOST:$port but does not answer Redis PING with PONG (password set? not Redis?); free the port or set REDIS_PORT"
	fi
	command -v redis-server >/dev/null 2>&1 || apt_install redis-server
	command -v redis-server >/dev/null 2>&1 || die "redis-server still not found after install"

	local dir="$SERVICES_DIR/redis-$port"
	mkdir -p "$dir"
	log "starting throwaway redis-server on $HOST:$port (files in $dir)"
	redis-server --bind "$HOST" --port "$port" --save '' --appendonly no \
		--dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2 ||
		die "redis-server failed to start; see $dir/redis.log"
	wait_for 10 redis_ok "$port" || {
		tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
		die "redis-server on $HOST:$port did not answer within 10s"
	}
	log "redis ready on $HOST:$port"
}

stop_redis() {
	local port=$REDIS_PORT
	local dir="$SERVICES_DIR/redis-$port"
	[[ -f $dir/redis.pid ]] || { log "no throwaway redis on port $port (nothing to stop)"; return 0; }
	local pid
	pid="$(cat "$dir/redis.pid")"
	if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
		grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
		kill -TERM "$pid"
		wait_for 10 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
		log "stopped throwaway redis on port $port (pid $pid)"
	else
		log "throwaway redis on port $port was not running"
	fi
	rm -rf "$dir"
}

# ----------------------------------------------------------- PostgreSQL

pg_bindir() {
	local d
	d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
	if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then
		echo "$d"
		return 0
	fi
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
		return 0
	fi
	return 1
}

# as_pg CMD...: run CMD as user postgres when root (PostgreSQL refuses root),
# else as the current user. Runs from a directory postgres can read.
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

ensure_pg() {
	local port=$PG_PORT
	if pg_ok "$port"; then
		return 0
	fi
	if port_open "$port"; then
		if command -v psql >/dev/null 2>&1; then
			die "something listens on $HOST:$port but does not accept 'psql -h $HOST -p $port -U postgres' without a password (pg_hba not trust for 127.0.0.1?); fix it, stop it, or set PG_PORT"
		fi
	fi
	local bin
	bin="$(pg_bindir)" || { apt_install postgresql; bin="$(pg_bindir)" || die "initdb/pg_ctl not found after installing postgresql"; }
	if ! command -v psql >/dev/null 2>&1; then
		apt_install postgresql-client
	fi
	# The Debian package may have started its own cluster on our port.
	if pg_ok "$port"; then
		return 0
	fi
	if port_open "$port"; then
		die "$HOST:$port is taken by a PostgreSQL that does not trust user postgres (perhaps the Debian 'main' cluster the package just started); stop it (pg_ctlcluster <ver> main stop) or set PG_PORT"
	fi
	if is_root; then
		getent passwd postgres >/dev/null || die "user postgres does not exist (needed to run PostgreSQL as root)"
	fi

	local dir="$SERVICES_DIR/pg-$port"
	mkdir -p "$SERVICES_DIR" "$dir"
	if is_root; then
		chown postgres: "$dir"
		chmod 0700 "$dir"
	fi
	if [[ ! -f $dir/data/PG_VERSION ]]; then
		rm -rf "$dir/data"
		log "initdb throwaway PostgreSQL cluster in $dir/data"
		as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
			>"$dir/initdb.log" 2>&1 || {
			cat "$dir/initdb.log" >&2
			die "initdb failed"
		}
	fi
	log "starting throwaway PostgreSQL on $HOST:$port (files in $dir)"
	as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
		-o "-c listen_addresses=$HOST -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
		start >/dev/null 2>&1 || {
		tail -n 30 "$dir/postgres.log" >&2 2>/dev/null || true
		die "pg_ctl start failed; see $dir/postgres.log"
	}
	wait_for 15 pg_ok "$port" || {
		tail -n 30 "$dir/postgres.log" >&2 2>/dev/null || true
		die "PostgreSQL on $HOST:$port did not answer within 15s"
	}
	log "postgres ready on $HOST:$port"
}

stop_pg() {
	local port=$PG_PORT
	local dir="$SERVICES_DIR/pg-$port"
	[[ -d $dir/data ]] || { log "no throwaway PostgreSQL on port $port (nothing to stop)"; return 0; }
	local bin
	bin="$(pg_bindir)" || die "pg_ctl not found"
	if [[ -f $dir/data/postmaster.pid ]]; then
		as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			log "pg_ctl stop failed for $dir/data"
		log "stopped throwaway PostgreSQL on port $port"
	else
		log "throwaway PostgreSQL on port $port was not running"
	fi
	rm -rf "$dir"
}

# ----------------------------------------------------------------- main

cmd="${1:-ensure}"
case "$cmd" in
ensure | start)
	[[ ${SKIP_REDIS:-0} == 1 ]] || ensure_redis
	[[ ${SKIP_PG:-0} == 1 ]] || ensure_pg
	;;
status)
	rc=0
	if [[ ${SKIP_REDIS:-0} != 1 ]]; then
		if redis_ok "$REDIS_PORT"; then log "redis: ok on $HOST:$REDIS_PORT"; else log "redis: NOT answering on $HOST:$REDIS_PORT"; rc=1; fi
	fi
	if [[ ${SKIP_PG:-0} != 1 ]]; then
		if pg_ok "$PG_PORT"; then log "postgres: ok on $HOST:$PG_PORT"; else log "postgres: NOT answering on $HOST:$PG_PORT"; rc=1; fi
	fi
	exit $rc
	;;
stop)
	[[ ${SKIP_REDIS:-0} == 1 ]] || stop_redis
	[[ ${SKIP_PG:-0} == 1 ]] || stop_pg
	;;
*)
	die "usage: $0 [ensure|status|stop]"
	;;
esac
