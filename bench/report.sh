#!/usr/bin/env bash
# Turn bench/results.csv into bench/results.md and bench/throughput.png.
set -euo pipefail
csv=$1
dir=$(dirname "$csv")
{
	echo "| case | clients | A | A tps | B | B tps | A / B |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	tail -n +2 "$csv" | awk -F, '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }'
} > "$dir/results.md"
# throughput vs clients: send and consume, mq and raw
awk -F, '$1 == "send" { print $2, $4, $6 }' "$csv" > "$dir/.send.dat"
awk -F, '$1 == "consume" { print $2, $4, $6 }' "$csv" > "$dir/.consume.dat"
gnuplot <<GP
set terminal pngcairo size 800,480
set output "$dir/throughput.png"
set title "mq vs raw SQL on the same table (pgbench, -M prepared)"
set xlabel "clients"
set ylabel "transactions per second"
set key right center
set yrange [0:*]
set grid
plot "$dir/.send.dat" using 1:2 with linespoints title "mq.send", \
     "$dir/.send.dat" using 1:3 with linespoints title "raw INSERT", \
     "$dir/.consume.dat" using 1:2 with linespoints title "mq read+ack", \
     "$dir/.consume.dat" using 1:3 with linespoints title "raw UPDATE..SKIP LOCKED + DELETE"
GP
rm -f "$dir/.send.dat" "$dir/.consume.dat"
