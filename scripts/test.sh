#!/usr/bin/env bash
# Run every test suite: install build and test dependencies, build and
# install mq, start a throwaway cluster with mq preloaded, and run against it
# the pg_regress and isolation suites (make installcheck) and the pgbench
# concurrency checks (test/stress/run.sh).
source "$(dirname "$0")/common.sh"

install_packages build-essential postgresql-15 postgresql-server-dev-15 \
	libipc-run-perl python3-psycopg python3-psycopg2 python3-sqlalchemy prometheus
command -v node >/dev/null 2>&1 || install_packages nodejs npm
build_and_install
# the regression suites call mq.maintain() themselves: keep the worker's
# timed maintenance out of their way (test/t covers the worker)
MQ_EXTRA_CONF="mq.maintenance_interval = 0"
start_cluster
trap stop_cluster EXIT

say "pg_regress and isolation suites (make installcheck)"
status=0
log=$(mktemp)
rm -rf "$MQ_ROOT"/regression.* "$MQ_ROOT"/results "$MQ_ROOT"/output_iso
# (pipefail: a pipeline fails when make fails)
if ! make -C "$MQ_ROOT" -s installcheck ISOLATION= 2>&1 | tee -a "$log"; then status=1; fi
if ! make -C "$MQ_ROOT" -s installcheck REGRESS= 2>&1 | tee -a "$log"; then status=1; fi
for f in "$MQ_ROOT"/regression.diffs "$MQ_ROOT"/output_iso/regression.diffs; do
	if [ -f "$f" ]; then say "$f"; cat "$f"; fi
done

say "concurrency checks (test/stress/run.sh)"
stress_out=$(mktemp)
if ! bash "$MQ_ROOT/test/stress/run.sh" | tee "$stress_out"; then status=1; fi

say "client examples (examples/python, examples/node) against the server"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS mq_examples WITH (FORCE)" -c "CREATE DATABASE mq_examples"
psql -X -q -d mq_examples -c "CREATE EXTENSION mq"
if (cd "$MQ_ROOT/examples/python" && PGDATABASE=mq_examples /usr/bin/python3 -m unittest -v test_examples); then
	echo "ok - python examples (psycopg worker, SQLAlchemy outbox)" | tee -a "$stress_out"
else
	echo "not ok - python examples" | tee -a "$stress_out"; status=1
fi
if (cd "$MQ_ROOT/examples/node" && npm ci --no-audit --no-fund --loglevel=error &&
	PGDATABASE=mq_examples node --test); then
	echo "ok - node examples (pg worker)" | tee -a "$stress_out"
else
	echo "not ok - node examples" | tee -a "$stress_out"; status=1
fi

say "Prometheus output (promtool check metrics)"
psql -X -q -At -d mq_examples -c "SELECT mq.create_queue('prom_check', max_receives => 3)" \
	-c "SELECT mq.send('prom_check', '{}')" >/dev/null
if psql -X -q -At -d mq_examples -c "SELECT mq.metrics_prometheus()" | promtool check metrics; then
	echo "ok - mq.metrics_prometheus() passes promtool check metrics" | tee -a "$stress_out"
else
	echo "not ok - mq.metrics_prometheus() fails promtool check metrics" | tee -a "$stress_out"; status=1
fi

say "TAP suites (test/t: workers, wakeups; run as postgres, initdb refuses root)"
# a copy the postgres user can read wherever the checkout lives
tapdir=$(mktemp -d)
chmod 755 "$tapdir"
cp -r "$MQ_ROOT/test/t" "$tapdir/t"
as_root chown -R postgres: "$tapdir"
tap_out=$(mktemp)
if ! (cd "$tapdir" && as_postgres env PATH="$PG_BIN:$PATH" \
	PERL5LIB=/usr/lib/postgresql/15/lib/pgxs/src/test/perl TESTDIR="$tapdir" \
	PG_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
	prove t/*.pl) 2>&1 | tee "$tap_out"; then
	status=1
	find "$tapdir" -name 'regress_log_*' -exec tail -n 60 {} \;
fi
as_root rm -rf "$tapdir"

# one closing line for every suite
passed=$(( $(grep -c '^test .* \.\.\. ok' "$log" || true) +
	$(grep -c '^ok ' "$stress_out" || true) +
	$(grep -Ec '\.pl \.+ ok$' "$tap_out" || true) ))
failed=$(( $(grep -c '^test .* \.\.\. FAILED' "$log" || true) +
	$(grep -c '^not ok ' "$stress_out" || true) +
	$(grep -Ec '\.pl \.+ (Dubious|Failed|not ok)' "$tap_out" || true) ))
rm -f "$stress_out" "$log" "$tap_out"
echo
if [ $status -ne 0 ]; then
	say "FAILED"
	echo "mq: $passed passed, $((failed > 0 ? failed : 1)) failed"
	exit 1
fi
echo "mq: $passed passed, $failed failed"
