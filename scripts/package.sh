#!/usr/bin/env bash
# Build the Debian package of mq (postgresql-NN-mq for every PostgreSQL
# version in debian/pgversions that is installed) with dpkg-buildpackage, in
# a copy of the tree; the .deb files go to $MQ_DEB_DIR (default
# /tmp/mq-deb).
#
#   bash scripts/package.sh            # build
#   bash scripts/package.sh --check    # build, install, and check that a
#                                      # fresh cluster runs CREATE EXTENSION mq
source "$(dirname "$0")/common.sh"

use_postgres
install_packages build-essential debhelper dpkg-dev postgresql-server-dev-all
out=${MQ_DEB_DIR:-/tmp/mq-deb}
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
rm -rf "$out" && mkdir -p "$out/mq"
tar -C "$MQ_ROOT" --exclude=node_modules --exclude=.git -cf - . | tar -C "$out/mq" -xf -
make -C "$out/mq" -s clean PG_CONFIG="$PG_CONFIG"
(cd "$out/mq" && pg_buildext updatecontrol && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
	{ tail -n 40 "$out/build.log"; echo "not ok - dpkg-buildpackage"; exit 1; }
rm -rf "$out/mq"
ls "$out"/*.deb
echo "ok - dpkg-buildpackage -us -uc -b builds $(cd "$out" && ls *.deb | tr '\n' ' ')"
[ "${1:-}" = --check ] || exit 0

deb=$(ls "$out"/postgresql-"$PG_MAJOR"-mq_*.deb)
as_root dpkg -i "$deb" >"$out/install.log" 2>&1 ||
	{ cat "$out/install.log"; echo "not ok - dpkg -i $(basename "$deb")"; exit 1; }
# the list whole, then grep: "dpkg -L | grep -q" fails under pipefail once
# the list is longer than one write (grep exits, dpkg gets SIGPIPE)
files=$(dpkg -L "postgresql-$PG_MAJOR-mq")
if grep -q "/mq.so$" <<<"$files" && grep -q "/mq_cluster.control$" <<<"$files" &&
	grep -q "/pgmq.control$" <<<"$files"; then
	echo "ok - $(basename "$deb") installs mq.so, mq.control, mq_cluster.control, pgmq.control and the SQL scripts"
else
	echo "not ok - $(basename "$deb") lacks mq.so, mq_cluster.control or pgmq.control"; exit 1
fi
MQ_PORT=$((MQ_PORT + 1)) MQ_CLUSTER=$MQ_CLUSTER-deb
start_cluster
trap 'stop_cluster; rm -rf "$build"' EXIT
got=$(psql -X -q -At -v ON_ERROR_STOP=1 -d postgres \
	-c "CREATE EXTENSION mq" \
	-c "SELECT mq.create_queue('from_package')" \
	-c "SELECT mq.send('from_package', '{\"hello\": \"package\"}')" \
	-c "SELECT body->>'hello' FROM mq.read('from_package', 1, '30 s', wait => '1 s')" \
	-c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq launcher'" 2>&1 | tail -n 2 | tr '\n' ' ')
if [ "$got" = "package 1 " ]; then
	echo "ok - the installed package: CREATE EXTENSION mq, send and read on a fresh cluster, launcher running"
else
	echo "not ok - the installed package on a fresh cluster: got '$got'"; exit 1
fi
as_root dpkg -r "postgresql-$PG_MAJOR-mq" >/dev/null 2>&1
