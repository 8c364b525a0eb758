# Helpers of the bench scripts, sourced after scripts/common.sh (which gives
# PG_BIN).

# pgbench_tps DB SCRIPT ARGS...: one pgbench run of SCRIPT on DB (-n -M
# prepared -j 2 and ARGS, e.g. -c 4 -T 4); prints its tps, 0 if it failed
# (its errors on standard error)
pgbench_tps() {
	local db=$1 script=$2 log
	shift 2
	log=$(mktemp)
	if ! "$PG_BIN/pgbench" -n -M prepared -j 2 "$@" -f "$script" "$db" >"$log" 2>&1; then
		echo "pgbench $db $(basename "$script") failed:" >&2
		grep -m 5 -i error "$log" >&2
	fi
	awk '/^tps = / { printf "%.0f\n", $3 } END { if (!NR) print 0 }' "$log" | head -1
	rm -f "$log"
}

# median: the median of the numbers on standard input, one a line
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
