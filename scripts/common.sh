# Shared by scripts/demo.sh and scripts/test.sh: install what is missing,
# build and install mq, and run a throwaway cluster with mq preloaded.
# Sourced, not run.

set -euo pipefail

MQ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MQ_PORT=${MQ_PORT:-54329}
MQ_CLUSTER=${MQ_CLUSTER:-/tmp/mq-cluster-$MQ_PORT}
PG_BIN=/usr/lib/postgresql/15/bin
export DEBIAN_FRONTEND=noninteractive

say() { printf '\n==> %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# install_packages PKG...: apt-get install the ones that are not installed
install_packages() {
	local missing=()
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		say "packages already installed: $*"
		return
	fi
	say "installing ${missing[*]}"
	as_root apt-get update -qq
	as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
}

build_and_install() {
	say "building and installing mq"
	make -C "$MQ_ROOT" -s
	as_root make -C "$MQ_ROOT" -s install
}

# the throwaway cluster runs as the postgres user (initdb refuses root)
as_postgres() {
	if [ "$(id -un)" = postgres ]; then "$@"; else as_root runuser -u postgres -- "$@"; fi
}

stop_cluster() {
	if [ -f "$MQ_CLUSTER/postmaster.pid" ]; then
		as_postgres "$PG_BIN/pg_ctl" -D "$MQ_CLUSTER" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	as_root rm -rf "$MQ_CLUSTER"
}

start_cluster() {
	say "starting a throwaway cluster in $MQ_CLUSTER (port $MQ_PORT, shared_preload_libraries = 'mq')"
	stop_cluster
	as_root mkdir -p "$MQ_CLUSTER"
	as_root chown postgres: "$MQ_CLUSTER"
	as_postgres "$PG_BIN/initdb" -D "$MQ_CLUSTER" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 >/dev/null
	cat <<CONF | as_postgres tee -a "$MQ_CLUSTER/postgresql.conf" >/dev/null
shared_preload_libraries = 'mq'
listen_addresses = ''
port = $MQ_PORT
unix_socket_directories = '$MQ_CLUSTER'
fsync = off
max_connections = 100
log_min_messages = warning
${MQ_EXTRA_CONF:-}
CONF
	as_postgres "$PG_BIN/pg_ctl" -D "$MQ_CLUSTER" -l "$MQ_CLUSTER/server.log" -w start >/dev/null
	export PGHOST=$MQ_CLUSTER PGPORT=$MQ_PORT PGUSER=postgres
}
