# Stream retention by the worker, on a live server: records older than
# retention go with whole segments (DROP TABLE), so the stream stays bounded
# and its tables have no dead tuples -- also while another session holds a
# snapshot for the whole run, which stops vacuum and would bloat a queue.
# A kill -9 in the middle loses no committed record that retention keeps.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('retention');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 100
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq.create_stream('ticks', partitions => 2, retention => '2 seconds');
	CREATE TABLE other (n int);
	INSERT INTO other VALUES (1);
});

# a session that holds a snapshot (and so the xmin horizon) all along
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$holder->query_safe('SELECT count(*) FROM other');

# 8 seconds of appends, 4 retention periods
my $stream_id = $node->safe_psql('postgres', q{SELECT stream_id FROM mq._stream WHERE stream_name = 'ticks'});
my ($max_segments, $max_rows) = (0, 0);
for my $i (1 .. 40)
{
	$node->safe_psql('postgres', qq{
		SELECT count(*) FROM mq.append_batch('ticks',
			ARRAY(SELECT jsonb_build_object('i', $i, 'j', j) FROM generate_series(1, 50) j))});
	my ($segments, $rows) = split /\|/, $node->safe_psql('postgres', q{
		SELECT (SELECT count(*) FROM mq._stream_segment g JOIN mq._stream s USING (stream_id)
				WHERE s.stream_name = 'ticks'),
			   (SELECT count(*) FROM generate_series(0, 1) p, mq.read_stream('ticks', p, 0, 10000))});
	$max_segments = $segments if $segments > $max_segments;
	$max_rows = $rows if $rows > $max_rows;
	usleep(200_000);
}
my $kept = $node->safe_psql('postgres', q{SELECT count(*) FROM generate_series(0, 1) p, mq.read_stream('ticks', p, 0, 10000)});
cmp_ok($kept, '<', 2000, 'retention dropped old records while a snapshot was held');
cmp_ok($kept, '>', 0, 'and kept the recent ones');
# a segment every retention / 8, kept until twice overdue at most under load
cmp_ok($max_segments, '<=', 20, "the stream stayed within a bounded number of segments ($max_segments)");
cmp_ok($max_rows, '<', 2000, "and never kept everything ($max_rows records at most)");
is($node->safe_psql('postgres', qq{SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables
	WHERE schemaname = 'mq' AND relname LIKE 's\\_${stream_id}\\_%'}), '0',
	'the segment tables have no dead tuples');
is($node->safe_psql('postgres', q{SELECT min(position) > 0 FROM mq.read_stream('ticks', 0, 0, 10000)}), 't',
	'the oldest positions are gone');
$holder->query_safe('COMMIT');
$holder->quit;

# a crash in the middle: what was committed and is within retention stays
$node->safe_psql('postgres', q{SELECT mq.alter_stream('ticks', retention => '1 hour')});
my $before = $node->safe_psql('postgres', q{
	SELECT string_agg(partition || ':' || position, ',' ORDER BY partition, position)
	FROM generate_series(0, 1) p, mq.read_stream('ticks', p, 0, 10000)});
$node->kill9;
my $started = 0;
foreach (1 .. 300)
{
	last if ($started = $node->start(fail_ok => 1));
	$node->{_pid} = undef;
	usleep(100_000);
}
ok($started, 'the server restarts');
is($node->safe_psql('postgres', q{
	SELECT string_agg(partition || ':' || position, ',' ORDER BY partition, position)
	FROM generate_series(0, 1) p, mq.read_stream('ticks', p, 0, 10000)}), $before,
	'every record kept before the crash is there after it');
my ($p, $pos) = split /\|/, $node->safe_psql('postgres', q{SELECT * FROM mq.append('ticks', '{}', key => 'k')});
is($node->safe_psql('postgres', qq{SELECT max(position) FROM mq.read_stream('ticks', $p, 0, 10000)}), $pos,
	'positions go on after the last one kept');

$node->stop;
done_testing();
