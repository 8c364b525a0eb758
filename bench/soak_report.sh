#!/usr/bin/env bash
# bench/soak_report.sh [soak.csv]: the summary (bench/soak.md) and the plot
# (bench/soak.png) of a soak run.  Needs psql (any server) for the numbers
# and gnuplot for the plot; bench/soak.sh calls it at the end.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
CSV=${1:-$BENCH/soak.csv}
MD=${SOAK_MD:-$BENCH/soak.md}
PNG=${SOAK_PNG:-$BENCH/soak.png}

# a paired run (SOAK_PAIRED=1: both modes at once, one database each)
# compares each window with the other mode's at the same second
paired_sql=
if [ "${SOAK_PAIRED:-0}" = 1 ]; then
	paired_sql="
SELECT '';
SELECT '| system | snapshot / normal, window by window (same second): min | median | windows under 0.9 | windows |';
SELECT '| --- | --- | --- | --- | --- |';
SELECT format('| %s | %s | %s | %s | %s |', a.system, round(min(a.tps / b.tps), 2),
			  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.tps / b.tps)::numeric, 2),
			  count(*) FILTER (WHERE a.tps < 0.9 * b.tps), count(*))
FROM s a JOIN s b ON b.system = a.system AND b.second = a.second AND b.mode = 'normal', w
WHERE a.mode = 'snapshot' AND a.second > w.warmup AND b.tps > 0
GROUP BY a.system
ORDER BY array_position(ARRAY['mq', 'raw', 'pgq', 'stream'], a.system);"
fi

# system,mode,second,tps,consume_p50_ms,consume_p99_ms,bytes,dead_tuples
psql -X -q -At -v ON_ERROR_STOP=1 -d postgres <<SQL > "$MD"
CREATE TEMP TABLE s (system text, mode text, second int, tps numeric, p50 numeric,
					 p99 numeric, bytes bigint, dead bigint);
\copy s FROM '$CSV' WITH (FORMAT csv, HEADER)
\pset format unaligned
\pset tuples_only on
SELECT '| system | mode | tps (mean after warm-up) | worst window / normal mean | consume p50 ms | consume p99 ms | size after warm-up | size at end | dead tuples at end |';
SELECT '| --- | --- | --- | --- | --- | --- | --- | --- | --- |';
-- warm-up: the first minute, or the first half of a shorter run
CREATE TEMP TABLE w AS SELECT least(60, max(second) / 2) AS warmup FROM s;
WITH n AS (SELECT system, avg(tps) AS mean FROM s, w WHERE mode = 'normal' AND second > warmup GROUP BY system)
SELECT format('| %s | %s | %s | %s | %s | %s | %s | %s | %s |', s.system, s.mode,
			  round(avg(s.tps) FILTER (WHERE s.second > w.warmup)),
			  round(min(s.tps) FILTER (WHERE s.second > w.warmup) / nullif(n.mean, 0), 2),
			  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s.p50)::numeric, 2),
			  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s.p99)::numeric, 2),
			  pg_size_pretty(min(s.bytes) FILTER (WHERE s.second > w.warmup)),
			  pg_size_pretty((array_agg(s.bytes ORDER BY s.second DESC))[1]),
			  (array_agg(s.dead ORDER BY s.second DESC))[1])
FROM s JOIN n USING (system), w
GROUP BY s.system, s.mode, n.mean
ORDER BY array_position(ARRAY['mq', 'raw', 'pgq', 'stream'], s.system),
		 array_position(ARRAY['normal', 'snapshot', 'released'], s.mode);
$paired_sql
SQL

if command -v gnuplot >/dev/null; then
	dir=$(mktemp -d)
	# the systems the run has, in their usual order, and their labels
	declare -A label=([mq]="mq" [raw]="raw SKIP LOCKED" [pgq]="PgQ" [stream]="mq stream")
	systems=()
	for sys in mq raw pgq stream; do
		grep -q "^$sys," "$CSV" && systems+=("$sys")
	done
	tps_plot= size_plot= color=1
	for sys in "${systems[@]}"; do
		for mode in normal snapshot; do
			# the windows after the snapshot ended go on its line
			awk -F, -v s="$sys" -v m="$mode" '$1 == s && ($2 == m || (m == "snapshot" && $2 == "released")) { print $3, $4, $7 / 1048576 }' "$CSV" \
				> "$dir/$sys-$mode.dat"
			dash=$([ "$mode" = snapshot ] && echo " dt 2" || echo "")
			title=${label[$sys]}$([ "$mode" = snapshot ] && echo ", snapshot held" || echo "")
			tps_plot+="${tps_plot:+, }\"$dir/$sys-$mode.dat\" using 1:2 with lines lw 2 lc $color$dash title \"$title\""
			size_plot+="${size_plot:+, }\"$dir/$sys-$mode.dat\" using 1:3 with lines lw 2 lc $color$dash title \"$title\""
		done
		color=$((color + 1))
	done
	# where the snapshot ended: the last window (10 s, as bench/soak.sh
	# makes them) before the first "released"
	released=$(awk -F, '$2 == "released" && (!m || $3 < m) { m = $3 } END { if (m) print m - 10 }' "$CSV")
	marker=
	if [ -n "$released" ]; then
		marker="set arrow from $released, graph 0 to $released, graph 1 nohead dt 3 lc rgb \"gray40\""
	fi
	gnuplot <<GP
set terminal pngcairo size 1100,800 font ",10"
$marker
set output "$PNG"
set multiplot layout 2,1 title "mq soak: 4 clients, send 1 / consume 1, backlog of ${SOAK_BACKLOG:-10000} messages; dashed: another session holds a snapshot (ended at the dotted line)"
set key outside right
set xlabel "seconds"
set ylabel "transactions/s"
set yrange [0:*]
plot $tps_plot
set ylabel "table + index size, MB"
plot $size_plot
unset multiplot
GP
	rm -rf "$dir"
fi
cat "$MD"
