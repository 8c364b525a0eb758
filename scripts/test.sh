#!/usr/bin/env bash
# Run every test suite: install build and test dependencies, build mq
# (-Werror, assertions on) and install it, check its layers
# (scripts/check_layers.py), start a throwaway cluster with mq
# preloaded, and run against it the pg_regress and isolation suites (make
# installcheck), the pgbench concurrency checks (test/stress/run.sh), the
# Python client's suite (clients/python), the client examples, the Node
# client's suites and the TAP suites (make installcheck, TAP part; the
# cluster suite needs PL/Proxy and the failover suite pg_auto_failover,
# both installed on Debian's PostgreSQL 15).
# On a PostgreSQL from Debian's packages it then builds the Debian package,
# installs it and checks it.
#
#   bash scripts/test.sh                                  # the machine's PostgreSQL
#   PG_CONFIG=/path/to/pg_config bash scripts/test.sh     # any other installation
source "$(dirname "$0")/common.sh"

use_postgres
install_packages build-essential libipc-run-perl pgbouncer python3-psycopg python3-psycopg2 \
	python3-sqlalchemy python3-venv python3-setuptools python3-wheel prometheus \
	chromium chromium-driver python3-selenium python3-jinja2 python3-tqdm tmux
command -v node >/dev/null 2>&1 || install_packages nodejs npm
# test/t/018_failover.pl: pg_auto_failover exists only as Debian's package
# for its own PostgreSQL; elsewhere that suite skips, saying so
if is_debian_postgres; then
	install_packages "postgresql-$PG_MAJOR-auto-failover" pg-auto-failover-cli ||
		say "pg_auto_failover: no package for PostgreSQL $PG_MAJOR; test/t/018_failover.pl will skip"
else
	say "pg_auto_failover: no package for $PG_CONFIG; test/t/018_failover.pl will skip"
fi
# PL/Proxy for mq_cluster's TAP suite (test/t/017_cluster.pl): Debian packages
# it for its own PostgreSQL 15 only; on any other the suite skips
if is_debian_postgres && [ "$PG_MAJOR" = 15 ]; then
	install_packages postgresql-15-plproxy
else
	say "PL/Proxy: none for this PostgreSQL $PG_MAJOR (Debian has postgresql-15-plproxy only): test/t/017_cluster.pl skips"
fi
build_and_install COPT="-Werror -DUSE_ASSERT_CHECKING"
# the regression suites call mq.maintain() themselves: keep the worker's
# timed maintenance out of their way (test/t covers the worker)
MQ_EXTRA_CONF="mq.maintenance_interval = 0"
start_cluster
trap stop_cluster EXIT

status=0
log=$(mktemp)	# pg_regress output
checks=$(mktemp)	# "ok - ..." / "not ok - ..." lines
tap_out=$(mktemp)

say "layers of src/ (scripts/check_layers.py: calls only downwards, statics, sizes)"
if ! python3 "$MQ_ROOT/scripts/check_layers.py" "$MQ_ROOT/src" | tee -a "$checks"; then status=1; fi

say "pg_regress and isolation suites (make installcheck)"
rm -rf "$MQ_ROOT"/regression.* "$MQ_ROOT"/results "$MQ_ROOT"/output_iso
# (pipefail: a pipeline fails when make fails)
if ! make -C "$MQ_ROOT" -s installcheck ISOLATION= TAP_TESTS= 2>&1 | tee -a "$log"; then status=1; fi
if ! make -C "$MQ_ROOT" -s installcheck REGRESS= TAP_TESTS= 2>&1 | tee -a "$log"; then status=1; fi
show_diffs() {
	local f
	for f in "$MQ_ROOT"/regression.diffs "$MQ_ROOT"/output_iso/regression.diffs; do
		if [ -f "$f" ]; then say "$f"; cat "$f"; fi
	done
}
show_diffs

say "the same suites again on the SQL path (mq.direct_access = off)"
# reads, acks and sends run their SQL statements, as in REPEATABLE READ
# transactions, on queues with triggers, and for dead letters
rm -rf "$MQ_ROOT"/regression.* "$MQ_ROOT"/results "$MQ_ROOT"/output_iso
export PGOPTIONS="-c mq.direct_access=off"
if ! make -C "$MQ_ROOT" -s installcheck ISOLATION= TAP_TESTS= 2>&1 | tee -a "$log"; then status=1; fi
if ! make -C "$MQ_ROOT" -s installcheck REGRESS= TAP_TESTS= 2>&1 | tee -a "$log"; then status=1; fi
unset PGOPTIONS
show_diffs

say "concurrency checks (test/stress/run.sh)"
if ! bash "$MQ_ROOT/test/stress/run.sh" | tee -a "$checks"; then status=1; fi

say "Python client (clients/python): pip install into a venv, its tests against the server"
# the README's install command (Debian's Python is externally managed: a
# venv that sees Debian's psycopg); the suite restarts the server once,
# and once stops it for a failover to a standby of its own (on MQ_PORT + 1);
# test_console.py drives the web console in headless chromium and saves a
# screenshot of each page; mqctl's tests run `mqctl top` under tmux and save
# its screen there too
pyvenv=$(mktemp -d)
screenshots=${MQ_TEST_SCREENSHOTS:-$(mktemp -d /tmp/mq-screenshots.XXXXXX)}
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS mq_client WITH (FORCE)" -c "CREATE DATABASE mq_client"
psql -X -q -d mq_client -c "CREATE EXTENSION mq"
if /usr/bin/python3 -m venv --system-site-packages "$pyvenv" &&
	"$pyvenv/bin/pip" install -q --no-build-isolation --no-index "$MQ_ROOT/clients/python" &&
	(cd "$MQ_ROOT/clients/python/tests" && PGDATABASE=mq_client MQ_TEST_PGCTL="$PG_BIN/pg_ctl" \
		MQ_TEST_PGDATA="$MQ_CLUSTER" MQ_TEST_STANDBY_PORT=$((MQ_PORT + 1)) \
		MQ_TEST_SCREENSHOTS="$screenshots" "$pyvenv/bin/python" -m unittest -v); then
	echo "ok - python client (mq_client: sends, worker, request/reply, stream consumer, failover, producer, mqctl, web console)" | tee -a "$checks"
else
	echo "not ok - python client" | tee -a "$checks"; status=1
fi
rm -rf "$MQ_ROOT/clients/python/build" "$MQ_ROOT"/clients/python/*.egg-info
say "web console screenshots (test_console.py) and mqctl top's screen: $screenshots"

say "client examples (examples/python, examples/node) and the Node client (clients/node) against the server"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS mq_examples WITH (FORCE)" -c "CREATE DATABASE mq_examples"
psql -X -q -d mq_examples -c "CREATE EXTENSION mq"
# (the venv of the Python client's step: the examples use mq_client)
if (cd "$MQ_ROOT/examples/python" && PGDATABASE=mq_examples "$pyvenv/bin/python" -m unittest -v test_examples); then
	echo "ok - python examples (psycopg worker, stream consumer-group worker, SQLAlchemy outbox)" | tee -a "$checks"
else
	echo "not ok - python examples" | tee -a "$checks"; status=1
fi
rm -rf "$pyvenv"
if (cd "$MQ_ROOT/examples/node" && npm ci --no-audit --no-fund --loglevel=error &&
	PGDATABASE=mq_examples node --test); then
	echo "ok - node examples (pg worker)" | tee -a "$checks"
else
	echo "not ok - node examples" | tee -a "$checks"; status=1
fi
# the failover suite restarts the server with this command in the middle of a producer run;
# the standby suite fails it over to a standby of its own (on MQ_PORT + 2) and starts it again
if [ "$(id -un)" = postgres ]; then as_pg=; elif [ "$(id -u)" -eq 0 ]; then as_pg="runuser -u postgres --"
else as_pg="sudo runuser -u postgres --"; fi
if (cd "$MQ_ROOT/clients/node" && npm ci --no-audit --no-fund --loglevel=error &&
	PGDATABASE=mq_examples MQ_TEST_RESTART="$as_pg $PG_BIN/pg_ctl -D $MQ_CLUSTER -l $MQ_CLUSTER/server.log -w -m fast restart" \
	MQ_TEST_PGCTL="$PG_BIN/pg_ctl" MQ_TEST_PGDATA="$MQ_CLUSTER" MQ_TEST_STANDBY_PORT=$((MQ_PORT + 2)) \
	npm test --silent); then
	echo "ok - node client (clients/node: mq-client on pg, its types and suites)" | tee -a "$checks"
else
	echo "not ok - node client (clients/node)" | tee -a "$checks"; status=1
fi

say "pgmq-js (npm), a pgmq client, through its whole API against the pgmq extension (test/pgmq-js)"
# (pgmq-js itself runs CREATE EXTENSION pgmq CASCADE)
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS pgmq_js WITH (FORCE)" -c "CREATE DATABASE pgmq_js"
if (cd "$MQ_ROOT/test/pgmq-js" && npm ci --no-audit --no-fund --loglevel=error &&
	PGDATABASE=pgmq_js node --test); then
	echo "ok - pgmq-js (queues, messages, native inserts, NOTIFY, read_with_poll on mq's wakeup)" | tee -a "$checks"
else
	echo "not ok - pgmq-js (test/pgmq-js)" | tee -a "$checks"; status=1
fi

say "Prometheus output (promtool check metrics)"
psql -X -q -At -d mq_examples -c "SELECT mq.create_queue('prom_check', max_receives => 3)" \
	-c "SELECT mq.send('prom_check', '{}')" >/dev/null
if psql -X -q -At -d mq_examples -c "SELECT mq.metrics_prometheus()" | promtool check metrics; then
	echo "ok - mq.metrics_prometheus() passes promtool check metrics" | tee -a "$checks"
else
	echo "not ok - mq.metrics_prometheus() fails promtool check metrics" | tee -a "$checks"; status=1
fi
stop_cluster

say "TAP suites (make installcheck: test/t; as postgres, initdb refuses root)"
# a copy of the tree the postgres user can write to wherever the checkout lives
tapdir=$(mktemp -d)
chmod 755 "$tapdir"
tar -C "$MQ_ROOT" --exclude=node_modules --exclude=.git -cf - . | tar -C "$tapdir" -xf -
as_root chown -R postgres: "$tapdir"
if ! as_postgres env PATH="$PATH" make -C "$tapdir" -s installcheck REGRESS= ISOLATION= \
	PG_CONFIG="$PG_CONFIG" 2>&1 | tee "$tap_out"; then
	status=1
	find "$tapdir" -name 'regress_log_*' -exec tail -n 60 {} \;
fi
as_root rm -rf "$tapdir"

if is_debian_postgres; then
	say "Debian package (dpkg-buildpackage; scripts/package.sh), installed and checked"
	if bash "$MQ_ROOT/scripts/package.sh" --check 2>&1 | tee -a "$checks"; then :; else status=1; fi
	# put the development build back where the package was
	as_root make -C "$MQ_ROOT" -s install PG_CONFIG="$PG_CONFIG"
else
	say "Debian package: skipped ($PG_CONFIG is not from Debian's packages)"
fi

# one closing line for every suite: pg_regress prints "test x ... ok" (15)
# or "ok 1 - x" (16 and later)
count() { grep -Ec "$1" "$2" || true; }
passed=$(( $(count '^test .* \.\.\. ok|^ok [0-9]+ +[-+] ' "$log") +
	$(count '^ok ' "$checks") +
	$(count '\.pl \.+ ok$' "$tap_out") ))
failed=$(( $(count '^test .* \.\.\. FAILED|^not ok [0-9]+ +[-+] ' "$log") +
	$(count '^not ok ' "$checks") +
	$(count '\.pl \.+ (Dubious|Failed|not ok)' "$tap_out") ))
rm -f "$log" "$checks" "$tap_out"
echo
if [ $status -ne 0 ]; then
	say "FAILED"
	echo "mq on PostgreSQL $PG_MAJOR: $passed passed, $((failed > 0 ? failed : 1)) failed"
	exit 1
fi
echo "mq on PostgreSQL $PG_MAJOR: $passed passed, $failed failed"
