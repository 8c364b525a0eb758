# Sourced by bench/run.sh: producer throughput with 20 readers blocked in
# mq.read(wait) on other queues, against none, alternating.
idle_readers() {
	local clients=$1 i run with=() without=()
	for i in $(seq 20); do q "SELECT mq.create_queue('idle_$i')" >/dev/null; done
	for run in $(seq "$RUNS"); do
		local pids=()
		for i in $(seq 20); do
			psql -X -q -At -d bench -c "SELECT count(*) FROM mq.read('idle_$i', 1, '1 s', wait => '60 s')" >/dev/null 2>&1 &
			pids+=($!)
		done
		sleep 1
		with+=("$(run mq_send "$clients")")
		kill "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
		without+=("$(run mq_send "$clients")")
	done
	local a b
	a=$(printf '%s\n' "${with[@]}" | median)
	b=$(printf '%s\n' "${without[@]}" | median)
	echo "send_with_20_waiters,$clients,mq_send+20 waiting readers,$a,mq_send,$b,$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')" | tee -a "$OUT"
}
