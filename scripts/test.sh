#!/usr/bin/env bash
# Run every test suite: install build and test dependencies, build and
# install mq, start a throwaway cluster with mq preloaded, and run the
# pg_regress and isolation suites (make installcheck) against it.
source "$(dirname "$0")/common.sh"

install_packages build-essential postgresql-15 postgresql-server-dev-15 \
	libipc-run-perl
build_and_install
start_cluster
trap stop_cluster EXIT

say "pg_regress and isolation suites (make installcheck)"
status=0
make -C "$MQ_ROOT" -s installcheck || status=$?
if [ $status -ne 0 ]; then
	for f in "$MQ_ROOT"/regression.diffs "$MQ_ROOT"/output_iso/regression.diffs; do
		[ -f "$f" ] && { say "$f"; cat "$f"; }
	done
	say "FAILED"
	exit $status
fi
say "all suites passed"
