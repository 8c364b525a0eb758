# Compaction of queue tables: the worker truncates a queue's bloated table
# and puts its messages back, so the table stays bounded while another
# session holds a snapshot (vacuum can remove nothing then); a kill -9 in
# the middle of a compaction, or just after it, loses nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('compact');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 100
mq.compact_threshold = 1000
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('work', archive => true);
	SELECT mq.create_queue('plain', archive => true);
	CREATE TABLE other (n int);
	INSERT INTO other VALUES (1);
	CREATE SEQUENCE n;
	-- the same load on a queue that cannot be compacted (a trigger of
	-- somebody else's would fire): what the table grows to without it
	CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
});
my $qid = $node->safe_psql('postgres', q{SELECT mq._queue_id('work')});
my $pid = $node->safe_psql('postgres', q{SELECT mq._queue_id('plain')});
$node->safe_psql('postgres', qq{CREATE TRIGGER noop AFTER INSERT ON mq.q_$pid FOR EACH STATEMENT EXECUTE FUNCTION noop()});

# a session that holds a snapshot (and so the xmin horizon) all along
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$holder->query_safe('SELECT count(*) FROM other');

# 40 rounds of 300 sends, 300 leases and 300 acks on each queue
my ($max_size, $plain_size, %files) = (0, 0);
for my $i (1 .. 40)
{
	for my $queue ('work', 'plain')
	{
		$node->safe_psql('postgres', qq{
			SELECT count(*) FROM mq.send_batch('$queue', ARRAY(SELECT jsonb_build_object('n', nextval('n')) FROM generate_series(1, 300)));
			DO \$\$ BEGIN
				FOR i IN 1..300 LOOP
					PERFORM mq.ack('$queue', m.msg_id) FROM mq.read('$queue', 1) m;
				END LOOP;
			END \$\$;});
	}
	my ($size, $file, $plain) = split /\|/, $node->safe_psql('postgres',
		qq{SELECT pg_total_relation_size('mq.q_$qid'), pg_relation_filenode('mq.q_$qid'),
				  pg_total_relation_size('mq.q_$pid')});
	$max_size = $size if $size > $max_size;
	$plain_size = $plain;
	$files{$file} = 1;
	# a pause without locks: the worker (every 100 ms) compacts between rounds
	usleep(300_000);
}
cmp_ok(scalar(keys %files), '>=', 3, 'the worker compacted the table several times while a snapshot was held');
cmp_ok($max_size, '<', $plain_size / 2,
	"the table stayed small ($max_size bytes at most; $plain_size without compaction)");
is($node->safe_psql('postgres', qq{
	SELECT count(*) = (SELECT last_value FROM n) AND count(DISTINCT body) = count(*) AND max(read_ct) = 1
	FROM (SELECT body, read_ct FROM mq.a_$qid UNION ALL SELECT body, read_ct FROM mq.a_$pid) a}), 't',
	'every message was delivered exactly once');
$holder->query_safe('COMMIT');
$holder->quit;

# crashes: the worker's compaction off, a compaction in a transaction
$node->append_conf('postgresql.conf', 'mq.compact_threshold = 0');
$node->reload;
$node->safe_psql('postgres', q{
	SELECT mq.drop_queue('plain');
	SELECT count(*) FROM mq.send_batch('work', ARRAY(SELECT jsonb_build_object('n', nextval('n')) FROM generate_series(1, 3000)));
	SELECT count(*) FROM mq.read('work', 100, '1 hour');
	SELECT count(*) FROM (SELECT mq.ack('work', m.msg_id) FROM mq.read('work', 1000, '1 minute') m) a;});
my $state = qq{SELECT count(*) || ' ' || sum(read_ct) || ' ' || count(*) FILTER (WHERE vt > now() + interval '30 minutes')
	|| ' ' || md5(string_agg(msg_id || ':' || read_ct || ':' || body::text, ',' ORDER BY msg_id)) FROM mq.q_$qid};
my $before = $node->safe_psql('postgres', $state);
like($before, qr/^2000 100 100 /, 'the queue holds 2,000 messages, 100 of them leased');

sub restart
{
	$node->kill9;
	foreach (1 .. 300)
	{
		return 1 if $node->start(fail_ok => 1);
		$node->{_pid} = undef;
		usleep(100_000);
	}
	return 0;
}

# kill -9 inside the compaction's transaction: it never happened
my $session = $node->background_psql('postgres');
$session->query_safe('BEGIN');
my $kept = $session->query_safe(q{SELECT mq.compact_queue('work')});
$kept =~ s/\s+$//;		# some versions of BackgroundPsql end it with a newline
is($kept, '2000', 'a compaction in progress kept 2,000');
ok(restart(), 'the server restarts after a crash during a compaction');
is($node->safe_psql('postgres', $state), $before, 'every message, lease and receive count is as before');

# kill -9 just after a compaction committed: its copy is durable
is($node->safe_psql('postgres', q{SELECT mq.compact_queue('work')}), '2000', 'a compaction committed');
my $file = $node->safe_psql('postgres', qq{SELECT pg_relation_filenode('mq.q_$qid')});
ok(restart(), 'the server restarts after a crash after a compaction');
is($node->safe_psql('postgres', $state), $before, 'every message, lease and receive count is there');
is($node->safe_psql('postgres', qq{SELECT pg_relation_filenode('mq.q_$qid')}), $file, 'in the new file');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mq.read('work', 5000, '1 minute')}), '1900',
	'the messages not leased can be read');

$node->stop;
done_testing();
