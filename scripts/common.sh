# Shared by scripts/demo.sh and scripts/test.sh: install what is missing,
# build and install mq, and run a throwaway cluster with mq preloaded.
# Sourced, not run.

set -euo pipefail

MQ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MQ_PORT=${MQ_PORT:-54329}
MQ_CLUSTER=${MQ_CLUSTER:-/tmp/mq-cluster-$MQ_PORT}
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
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = 'install ok installed' ] ||
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

# has_server PG_CONFIG: that pg_config belongs to a server with PGXS and its
# server headers (Debian's postgresql-client ships pgxs.mk without them)
has_server() {
	local bindir
	bindir=$("$1" --bindir 2>/dev/null) && [ -x "$bindir/postgres" ] &&
		[ -f "$("$1" --pgxs)" ] && [ -f "$("$1" --includedir-server)/postgres.h" ]
}

# use_postgres: choose the PostgreSQL to build and test against.
# PG_CONFIG=/path/to/pg_config picks any installation; without it, the
# pg_config on PATH, and on a machine with none Debian's own PostgreSQL
# (the distribution's default major version) is installed first.
# Sets PG_CONFIG, PG_BIN (also first on PATH) and PG_MAJOR.
use_postgres() {
	if [ -z "${PG_CONFIG:-}" ]; then
		PG_CONFIG=pg_config
		if ! has_server pg_config; then
			# a server without its headers: add the headers of that version
			local major
			major=$(pg_config --version 2>/dev/null | sed -nE 's/^PostgreSQL ([0-9]+).*/\1/p' || true)
			if [ -n "$major" ] && [ -x "/usr/lib/postgresql/$major/bin/postgres" ]; then
				install_packages "postgresql-server-dev-$major"
			else
				install_packages postgresql postgresql-server-dev-all
			fi
		fi
	fi
	PG_CONFIG=$(command -v "$PG_CONFIG") || { echo "no pg_config: set PG_CONFIG" >&2; exit 1; }
	PG_BIN=$("$PG_CONFIG" --bindir)
	PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
	PATH=$PG_BIN:$PATH
	export PG_CONFIG PG_BIN PG_MAJOR PATH
	say "using PostgreSQL $PG_MAJOR ($PG_CONFIG)"
}

# is_debian_postgres: the chosen pg_config comes from Debian's packages
is_debian_postgres() {
	dpkg -S "$("$PG_CONFIG" --bindir)/postgres" >/dev/null 2>&1
}

# build_and_install [MAKE-VARIABLES...]: build mq and install it into the
# chosen PostgreSQL; the test command adds -Werror and assertions
build_and_install() {
	say "building and installing mq"
	make -C "$MQ_ROOT" -s clean PG_CONFIG="$PG_CONFIG"
	make -C "$MQ_ROOT" -s PG_CONFIG="$PG_CONFIG" "$@"
	as_root make -C "$MQ_ROOT" -s install PG_CONFIG="$PG_CONFIG"
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
