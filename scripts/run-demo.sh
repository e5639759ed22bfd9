#!/usr/bin/env bash
# The `make run` demo: a local kinesalite, a producer writing JSON records
# into stream "demo", and bin/kinesis-host consuming them with config.hcl.
#
#   scripts/run-demo.sh [extra kinesis-host run arguments]
#
# Expects bin/kinesis-host and bin/plugins/* to be built (make run does that).
# Uses bin/demo-producer when present, else builds it there with go build.
# Ctrl-C (or SIGTERM, or kinesis-host exiting) stops everything this script
# started; a kinesalite it found already running is left alone.
#
# Environment:
#   DEMO_CONFIG      host config file (default config.hcl)
#   DEMO_PORT        kinesalite port on 127.0.0.1 (default 4567)
#   DEMO_STREAM      stream name (default demo)
#   DEMO_SHARDS      shards when the stream is created (default 4)
#   DEMO_RATE        producer records/s (default 20)
#   DEMO_LOG_EVERY   producer progress interval (default 30s)
#   DEMO_LOG_DIR     where kinesalite's log goes (default .tools/demo)
#
# How the settings reach kinesis-host: it is started with
# KINESIS_ENDPOINT=http://127.0.0.1:$DEMO_PORT, which config.hcl reads through
# env() (whatever KINESIS_ENDPOINT was set to before is overridden for the
# host). When DEMO_STREAM is not a stream block of the config and the config
# has exactly one stream block, the host runs a copy of the config with that
# block's label renamed (.run-demo.<pid>.hcl next to the config, so relative
# paths still hold; removed on exit). Everything the host prints goes to the
# terminal unfiltered.
# shellcheck disable=SC2317 # the stop functions run from traps
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd)"
cd "$REPO_ROOT"

CONFIG="${DEMO_CONFIG:-config.hcl}"
PORT="${DEMO_PORT:-4567}"
STREAM="${DEMO_STREAM:-demo}"
SHARDS="${DEMO_SHARDS:-4}"
RATE="${DEMO_RATE:-20}"
LOG_EVERY="${DEMO_LOG_EVERY:-30s}"
LOG_DIR="${DEMO_LOG_DIR:-$REPO_ROOT/.tools/demo}"
ENDPOINT="http://127.0.0.1:$PORT"
HOST_BIN="$REPO_ROOT/bin/kinesis-host"
PRODUCER_BIN="$REPO_ROOT/bin/demo-producer"

say() { printf 'run-demo: %s\n' "$*" >&2 || true; }
die() { printf 'run-demo: ERROR: %s\n' "$*" >&2; exit 1; }

KINESALITE_PID=""
PRODUCER_PID=""
HOST_PID=""
GOT_SIGNAL=""
HOST_CONFIG="$CONFIG" # the config kinesis-host runs: CONFIG or DERIVED_CONFIG
DERIVED_CONFIG=""     # a copy of CONFIG for DEMO_STREAM, removed on exit

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# wait_gone PID SECONDS: true once PID has exited.
wait_gone() {
	local pid=$1 deadline=$((SECONDS + $2))
	while alive "$pid"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
	return 0
}

# stop_pid NAME PID: SIGTERM, then SIGKILL after 5 s.
stop_pid() {
	local name=$1 pid=$2
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" 5; then
		say "$name (pid $pid) did not stop; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

stop_host() {
	alive "$HOST_PID" || return 0
	if [[ $GOT_SIGNAL == INT ]]; then
		# A Ctrl-C reached kinesis-host too (same process group): give it
		# time to shut down on its own before signalling it again.
		wait_gone "$HOST_PID" 15 || true
	fi
	if alive "$HOST_PID"; then
		kill -TERM "$HOST_PID" 2>/dev/null || true
		if ! wait_gone "$HOST_PID" 15; then
			say "kinesis-host (pid $HOST_PID) did not stop; killing it"
			kill -KILL "$HOST_PID" 2>/dev/null || true
		fi
	fi
	wait "$HOST_PID" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM HUP
	# A closed stderr (e.g. a pager or tee that got the Ctrl-C too) must not
	# kill the cleanup half-way.
	trap '' PIPE
	if [[ -n $HOST_PID || -n $PRODUCER_PID || -n $KINESALITE_PID ]]; then
		say "stopping"
	fi
	stop_host
	stop_pid demo-producer "$PRODUCER_PID"
	stop_pid kinesalite "$KINESALITE_PID"
	[[ -z $DERIVED_CONFIG ]] || rm -f "$DERIVED_CONFIG"
	exit "$rc"
}

on_signal() {
	GOT_SIGNAL=$1
	case $1 in
	INT) exit 130 ;;
	TERM) exit 143 ;;
	*) exit 129 ;;
	esac
}

trap cleanup EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# kinesis_answers: a Kinesis API (ListStreams) answers on $PORT.
kinesis_answers() {
	node -e '
		const req = require("http").request({
			host: "127.0.0.1", port: Number(process.argv[1]), path: "/", method: "POST", timeout: 2000,
			headers: {
				"Content-Type": "application/x-amz-json-1.1",
				"X-Amz-Target": "Kinesis_20131202.ListStreams",
				"X-Amz-Date": "20200101T000000Z",
				"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDDEMO/20200101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
			},
		}, (res) => {
			let body = "";
			res.on("data", (c) => (body += c));
			res.on("end", () => {
				try { process.exit(Array.isArray(JSON.parse(body).StreamNames) ? 0 : 1); } catch (e) { process.exit(1); }
			});
		});
		req.on("error", () => process.exit(1));
		req.on("timeout", () => { req.destroy(); process.exit(1); });
		req.end("{}");
	' "$PORT" 2>/dev/null
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# config_text FILE: FILE without its # and // comments (good enough to look
# for words; a "#" or "//" inside a string cuts the rest of that line).
config_text() { sed -e 's/#.*//' -e 's|//.*||' "$1"; }

# config_streams FILE: the labels of FILE's stream blocks, one a line.
config_streams() {
	config_text "$1" | sed -n 's/^[[:space:]]*stream[[:space:]]*"\([^"]*\)".*/\1/p'
}

# rename_stream FILE OLD NEW: FILE with the label of stream block OLD set to NEW.
rename_stream() {
	awk -v old="\"$2\"" -v new="\"$3\"" '
		!done && /^[[:space:]]*stream[[:space:]]*"/ && (i = index($0, old)) {
			$0 = substr($0, 1, i - 1) new substr($0, i + length(old))
			done = 1
		}
		{ print }' "$1"
}

# ---------------------------------------------------------------- checks
[[ -x $HOST_BIN ]] || die "$HOST_BIN not found; build it first (make build, or make run)"
compgen -G "$REPO_ROOT/bin/plugins/*" >/dev/null || say "warning: bin/plugins/ is empty; build the plugins first (make build)"
[[ -f $CONFIG ]] || die "config $CONFIG not found (set DEMO_CONFIG)"
if [[ ! $PORT =~ ^[0-9]{1,5}$ ]] || ((10#$PORT == 0 || 10#$PORT > 65535)); then
	die "DEMO_PORT=$PORT is not a port number"
fi
[[ $STREAM =~ ^[a-zA-Z0-9_.-]{1,128}$ ]] || die "DEMO_STREAM=$STREAM is not a Kinesis stream name ([a-zA-Z0-9_.-], 1 to 128 characters)"

# The host must read the stream the producer writes and the emulator started
# here: both are settings of the config, not of kinesis-host's command line.
config_text "$CONFIG" | grep -q KINESIS_ENDPOINT ||
	say "warning: $CONFIG does not read env(\"KINESIS_ENDPOINT\"): kinesis-host may not use the demo's endpoint $ENDPOINT"
mapfile -t CONFIG_STREAMS < <(config_streams "$CONFIG")
if ! printf '%s\n' "${CONFIG_STREAMS[@]}" | grep -qxF -- "$STREAM"; then
	((${#CONFIG_STREAMS[@]} == 1)) ||
		die "DEMO_STREAM=$STREAM: $CONFIG has no stream \"$STREAM\" block (it has: ${CONFIG_STREAMS[*]:-none}); add one or set DEMO_CONFIG"
	DERIVED_CONFIG="$(dirname -- "$CONFIG")/.run-demo.$$.hcl"
	rename_stream "$CONFIG" "${CONFIG_STREAMS[0]}" "$STREAM" >"$DERIVED_CONFIG"
	HOST_CONFIG="$DERIVED_CONFIG"
	say "DEMO_STREAM=$STREAM: running a copy of $CONFIG with stream \"${CONFIG_STREAMS[0]}\" renamed: $DERIVED_CONFIG"
fi

"$SCRIPT_DIR/install-emulators.sh"

# Redis/PostgreSQL only when the config uses them (comments do not count:
# config.hcl's commented-out example of a shared store names redis).
config_body="$(config_text "$CONFIG")"
if grep -qiE 'redis|postgres' <<<"$config_body"; then
	skip_redis=1 skip_pg=1
	grep -qi redis <<<"$config_body" && skip_redis=0
	grep -qi postgres <<<"$config_body" && skip_pg=0
	SKIP_REDIS=$skip_redis SKIP_PG=$skip_pg "$SCRIPT_DIR/ensure-services.sh"
fi

# ------------------------------------------------------------ kinesalite
mkdir -p "$LOG_DIR"
if kinesis_answers; then
	say "reusing the Kinesis endpoint already answering on $ENDPOINT"
elif port_open "$PORT"; then
	die "127.0.0.1:$PORT is in use by something that is not a Kinesis API; free it or set DEMO_PORT"
else
	say "starting kinesalite on $ENDPOINT (log: ${LOG_DIR#"$REPO_ROOT"/}/kinesalite.log)"
	# setsid: its own session, so a Ctrl-C meant for kinesis-host does not
	# stop it first; cleanup stops it after the host.
	setsid node "$SCRIPT_DIR/kinesalite.js" "$PORT" </dev/null >"$LOG_DIR/kinesalite.log" 2>&1 &
	KINESALITE_PID=$!
	deadline=$((SECONDS + 20))
	until kinesis_answers; do
		alive "$KINESALITE_PID" || { cat "$LOG_DIR/kinesalite.log" >&2; die "kinesalite exited"; }
		((SECONDS < deadline)) || die "kinesalite did not answer on $ENDPOINT within 20s"
		sleep 0.1
	done
fi

# ---------------------------------------------------------- demo-producer
if [[ ! -x $PRODUCER_BIN ]]; then
	say "building bin/demo-producer"
	mkdir -p "$REPO_ROOT/bin"
	go build -o "$PRODUCER_BIN" ./cmd/demo-producer
fi
"$PRODUCER_BIN" -endpoint "$ENDPOINT" -stream "$STREAM" -shards "$SHARDS" -create-only
say "starting demo-producer: $RATE records/s into stream $STREAM"
setsid "$PRODUCER_BIN" -endpoint "$ENDPOINT" -stream "$STREAM" -shards "$SHARDS" \
	-rate "$RATE" -log-every "$LOG_EVERY" </dev/null &
PRODUCER_PID=$!

# ----------------------------------------------------------- kinesis-host
say "starting bin/kinesis-host run -config $HOST_CONFIG${*:+ $*} with KINESIS_ENDPOINT=$ENDPOINT (Ctrl-C stops everything)"
if [[ -n ${KINESIS_ENDPOINT:-} && $KINESIS_ENDPOINT != "$ENDPOINT" ]]; then
	say "note: KINESIS_ENDPOINT=$KINESIS_ENDPOINT is overridden for kinesis-host; set DEMO_PORT to choose the emulator's port"
fi
KINESIS_ENDPOINT="$ENDPOINT" "$HOST_BIN" run -config "$HOST_CONFIG" -progress 5s "$@" &
HOST_PID=$!
set +e
wait "$HOST_PID"
rc=$?
set -e
HOST_PID=""
say "kinesis-host exited with status $rc"
exit "$rc"
