#!/usr/bin/env bash
# Installs the pinned local emulators (kinesalite, dynalite, kinesis-local)
# into <repo>/.tools/node/node_modules from tools/package.json and
# tools/package-lock.json.
#
# Idempotent: when the installed versions already match the pins and the lock
# file has not changed since the last install, it exits in a few milliseconds.
#
# Environment:
#   FORCE=1   reinstall even if everything looks installed.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd)"
TOOLS_SRC="$REPO_ROOT/tools"
DEST="$REPO_ROOT/.tools/node"
STAMP="$DEST/.install-stamp"

# name@version pins; must agree with tools/package.json.
PINS=(kinesalite@3.3.3 dynalite@4.0.0 kinesis-local@0.6.2)

log() { printf 'install-emulators: %s\n' "$*" >&2; }
die() { printf 'install-emulators: ERROR: %s\n' "$*" >&2; exit 1; }

# installed_version NAME prints the version in node_modules/NAME/package.json
# (empty if missing). Pure shell, so it works before node is checked.
installed_version() {
	local pj="$DEST/node_modules/$1/package.json"
	[[ -f $pj ]] || return 0
	sed -n 's/^[[:space:]]*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$pj" | head -n1
}

fingerprint() {
	# Lock file + package.json + node major version: a node upgrade can
	# change native prebuild selection, so reinstall then.
	local nodever
	nodever="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo none)"
	{
		cat "$TOOLS_SRC/package.json"
		[[ -f $TOOLS_SRC/package-lock.json ]] && cat "$TOOLS_SRC/package-lock.json"
		echo "node=$nodever"
	} | cksum | cut -d' ' -f1
}

all_pins_installed() {
	local pin name want have
	for pin in "${PINS[@]}"; do
		name="${pin%@*}"
		want="${pin##*@}"
		have="$(installed_version "$name")"
		[[ $have == "$want" ]] || return 1
	done
	return 0
}

ensure_node() {
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
		return 0
	fi
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "node/npm not found; installing Debian packages nodejs npm (as root)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2 || log "apt-get update failed; trying install anyway"
		apt-get install -y -qq nodejs npm >&2 || die "apt-get install -y nodejs npm failed"
	fi
	command -v node >/dev/null 2>&1 || die "node not found in PATH. Install Node.js >= 18 (Debian: apt-get install -y nodejs npm) and re-run $0"
	command -v npm >/dev/null 2>&1 || die "npm not found in PATH. Install npm (Debian: apt-get install -y npm) and re-run $0"
}

main() {
	[[ -f $TOOLS_SRC/package.json ]] || die "missing $TOOLS_SRC/package.json"

	# Fast path: no npm invocation at all.
	if [[ ${FORCE:-0} != 1 ]] && all_pins_installed && [[ -f $STAMP ]] &&
		command -v node >/dev/null 2>&1 && [[ "$(cat "$STAMP")" == "$(fingerprint)" ]]; then
		exit 0
	fi

	ensure_node
	local major
	major="$(node -p 'process.versions.node.split(".")[0]')"
	if ((major < 18)); then
		die "node $(node --version) is too old; need Node.js >= 18"
	fi

	mkdir -p "$DEST"
	cp "$TOOLS_SRC/package.json" "$DEST/package.json"

	local start=$SECONDS
	if [[ -f $TOOLS_SRC/package-lock.json ]]; then
		cp "$TOOLS_SRC/package-lock.json" "$DEST/package-lock.json"
		log "npm ci into ${DEST#"$REPO_ROOT"/} (kinesalite, dynalite, kinesis-local)"
		(cd "$DEST" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
			die "npm ci failed in $DEST"
	else
		log "no tools/package-lock.json; npm install (commit the generated tools/package-lock.json)"
		rm -f "$DEST/package-lock.json"
		(cd "$DEST" && npm install --no-audit --no-fund --loglevel=error >&2) ||
			die "npm install failed in $DEST"
		cp "$DEST/package-lock.json" "$TOOLS_SRC/package-lock.json"
	fi

	all_pins_installed || {
		local pin
		for pin in "${PINS[@]}"; do
			log "  ${pin%@*}: want ${pin##*@}, have '$(installed_version "${pin%@*}")'"
		done
		die "installed versions do not match the pins (tools/package.json out of sync with this script?)"
	}
	fingerprint >"$STAMP"
	log "installed ${PINS[*]} in $((SECONDS - start))s"
}

main "$@"
