# Many databases, few workers, nothing spent when idle.  30 databases with
# mq on a server whose max_worker_processes (8) has room for far fewer
# workers than databases: a pool of mq.max_workers (4) serves them all in turn, so
# TTL expiry, dead-lettering, the NOTIFY of the dead letters and stream
# retention happen in every database at their deadlines, never with more
# than 4 workers at once, and the log says when databases wait for one.
# Once idle (queues and streams there, no traffic), the databases have no
# worker and the launcher sleeps: the mq processes (the launcher and any
# worker, including those that came and went) use less than 1% of one core
# in all over 20 s.  mq.workers shows each database, its worker if it has
# one, and when it next needs one.  In an active database, a notify queue's
# NOTIFY, a waiting reader's wakeup and the readable ends for standbys are
# on time while the others are idle.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $ndb = 30;
my $window = 20;	# seconds of idle measured

my $node = PostgreSQL::Test::Cluster->new('pool');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'mq'
max_worker_processes = 8
mq.max_workers = 4
mq.worker_idle_timeout = '2s'
autovacuum = off
});
$node->start;

# every database: a TTL, a lease that dead-letters when it ends, a notify
# dead-letter queue, a stream with retention; all due within seconds
my $setup = q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('dlq', notify => true);
	SELECT mq.create_queue('ttl', message_ttl => '4 seconds');
	SELECT mq.create_queue('poison', max_receives => 1, dead_letter_queue => 'dlq');
	SELECT mq.create_stream('s', partitions => 1, retention => '4 seconds');
};
my $traffic = q{
	SELECT mq.send('ttl', '{"n": 1}');
	SELECT mq.send('poison', '{"n": 1}');
	SELECT count(*) FROM mq.read('poison', 1, '3 seconds');
	SELECT mq.append('s', '{"n": 1}');
};
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE EXTENSION mq');
my @dbs = map { "db$_" } 1 .. $ndb;
for my $db (@dbs)
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, $setup);
}
my %listener;
for my $db (@dbs)
{
	$listener{$db} = $node->background_psql($db);
	$listener{$db}->query_safe('LISTEN "mq.dlq"');
}
$node->safe_psql($_, $traffic) for @dbs;

# the timed work, in every database; a session counts the workers every
# 20 ms meanwhile
my $workers = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker'};
$node->safe_psql('postgres', 'CREATE TABLE sampling (stop bool, most int)');
my ($sout, $serr) = ('', '');
my $sampler = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', q{DO $$
		DECLARE
			most int := 0;
			now_ int;
		BEGIN
			LOOP
				PERFORM pg_stat_clear_snapshot();
				SELECT count(*) INTO now_ FROM pg_stat_activity WHERE backend_type = 'mq worker';
				most := greatest(most, now_);
				EXIT WHEN EXISTS (SELECT FROM sampling WHERE stop);
				PERFORM pg_sleep(0.02);
			END LOOP;
			INSERT INTO sampling VALUES (false, most);
		END $$} ],
	'>', \$sout, '2>', \$serr);
my $done = qq{SELECT (SELECT queue_length FROM mq.metrics('ttl')) = 0
	AND (SELECT queue_length FROM mq.metrics('dlq')) = 1
	AND (SELECT count(*) FROM mq.read_stream('s', 0, 0, 100)) = 0};
my %left = map { $_ => 1 } @dbs;
for my $try (1 .. 900)
{
	for my $db (sort keys %left)
	{
		delete $left{$db} if $node->safe_psql($db, $done) eq 't';
	}
	last unless %left;
	usleep(200_000);
}
$node->safe_psql('postgres', 'INSERT INTO sampling VALUES (true, NULL)');
$sampler->finish;
my $most = $node->safe_psql('postgres', 'SELECT max(most) FROM sampling');
is(join(' ', sort keys %left), '',
	"TTL expiry, dead-lettering and stream retention happened in all $ndb databases");
cmp_ok($most, '<=', 4, "never more than mq.max_workers workers at once (most seen: $most)");
cmp_ok($most, '>=', 1, 'workers came');
my %heard;
sub hear
{
	my ($listener, $channel, $tries) = @_;
	foreach (1 .. ($tries // 600))
	{
		my $got = $listener->query_safe('SELECT 1');
		return 1 if $got =~ /Asynchronous notification "\Q$channel\E"/;
		usleep(100_000);
	}
	return 0;
}
# (they came with the dead letters: a short look at each listener)
my @silent = grep { !hear($listener{$_}, 'mq.dlq', 20) } @dbs;
is("@silent", '', 'the dead-letter queue NOTIFYs the move in every database');
$_->quit for values %listener;
like(slurp_file($node->logfile, $log_offset),
	qr/LOG:  mq: \d+ databases wait for a worker: all 4 of mq.max_workers are busy/,
	'the log says when databases wait for a worker');

# mq.workers: every database with mq; none has a worker once all is done
# and the rounds that follow the activity are over (at most 61 s after it)
is($node->safe_psql('postgres', 'SELECT count(DISTINCT database) FROM mq.workers'),
	$ndb + 1, 'mq.workers lists every database with mq');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mq.workers
	WHERE pid IS NOT NULL OR state <> 'idle'
	   OR (next_wake IS NOT NULL AND next_wake < now() + interval '30 seconds')}),
	'every database idle, with no worker and nothing due soon');
is($node->safe_psql('postgres', q{SET ROLE pg_monitor;
	SELECT count(*) > 0 FROM mq.workers WHERE last_work IS NOT NULL AND last_work_at <= now()}), 't',
	'a role that is not a superuser reads mq.workers: what was done last and when');

# CPU time (user + system, in clock ticks) of the mq processes over the
# window: the live ones from /proc/<pid>/stat, and those that ended, which
# the postmaster's children's times (cutime, cstime) count once it has
# reaped them.  No session connects meanwhile, so no other child ends.
my $ticks_per_second = `getconf CLK_TCK`;
chomp $ticks_per_second;
$ticks_per_second ||= 100;
my $postmaster = slurp_file($node->data_dir . '/postmaster.pid');
$postmaster =~ s/\n.*//s;
sub stat_fields
{
	my ($pid) = @_;
	my $stat = eval { slurp_file("/proc/$pid/stat") };
	return () unless defined $stat;
	my ($comm) = $stat =~ /\((.*)\)/s;
	$stat =~ s/^.*\)\s+//s;
	return ($comm, split(/\s+/, $stat));
}
sub cpu_ticks
{
	my $ticks = 0;
	# fields after the command name: state(0) ppid(1) ... utime(11) stime(12)
	# cutime(13) cstime(14)
	my (undef, @pm) = stat_fields($postmaster);
	$ticks += $pm[13] + $pm[14];
	opendir(my $dh, '/proc') or die;
	for my $pid (grep { /^\d+$/ } readdir($dh))
	{
		my ($comm, @f) = stat_fields($pid);
		next unless @f && $f[1] == $postmaster;
		my $cmdline = eval { slurp_file("/proc/$pid/cmdline") } // '';
		$ticks += $f[11] + $f[12] if $cmdline =~ /^postgres: .*mq (launcher|worker)/;
	}
	closedir($dh);
	return $ticks;
}
my $before = cpu_ticks();
sleep($window);
my $used = cpu_ticks() - $before;
my $share = 100 * $used / $ticks_per_second / $window;
note(sprintf('%d idle databases: %d ticks in %d s, %.2f%% of one core in all',
	$ndb + 1, $used, $window, $share));
cmp_ok($share, '<', 1, "$ndb idle databases use less than 1% of one core in all");
is($node->safe_psql('postgres', $workers), '0', 'no worker runs for idle databases');

# the active database: its worker comes for commits and deadlines
$node->safe_psql('postgres', q{
	SELECT mq.create_queue('dlq', notify => true);
	SELECT mq.create_queue('n', notify => true);
	SELECT mq.create_stream('s', partitions => 2);
	SELECT mq.create_queue('short_ttl', message_ttl => '20 seconds');
	SELECT mq.create_queue('short_poison', max_receives => 1, dead_letter_queue => 'dlq');
	SELECT mq.send('short_ttl', '{"n": 1}');
	SELECT mq.send('short_poison', '{"n": 1}');
	SELECT count(*) FROM mq.read('short_poison', 1, '20 seconds');
});
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN "mq.n"');
$node->safe_psql('postgres', q{SELECT mq.send('n', '{}')});
ok(hear($listener, 'mq.n'), 'a notify queue NOTIFYs after a send');
$listener->quit;

# a waiting reader whose poll interval (10 s) is longer than its wait (8 s):
# only the commit's wakeup brings it the message
$node->safe_psql('postgres', q{SELECT count(*) FROM mq.pop('n', 10)});
my ($rout, $rerr) = ('', '');
my $reader = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
	  '-c', "SET mq.poll_interval = '10s'",
	  '-c', q{SELECT 'got ' || (body->>'n') FROM mq.read('n', 1, '1 minute', wait => '8 seconds')} ],
	'>', \$rout, '2>', \$rerr);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE '%mq.read(''n''%' AND wait_event = 'Extension' AND pid <> pg_backend_pid()}),
	'a reader waits');
$node->safe_psql('postgres', q{SELECT mq.send('n', '{"n": 2}')});
$reader->finish;
is($rout, "got 2\n", 'a waiting reader is woken by the commit');

# the readable ends for standbys are written after an append
my $sid = $node->safe_psql('postgres', q{SELECT stream_id FROM mq._stream WHERE stream_name = 's'});
# (the sum over the partitions of the greatest end written)
my $ends = qq{SELECT coalesce(sum(e), 0) FROM (SELECT max(end_position) AS e
	FROM mq._stream_end WHERE stream_id = $sid GROUP BY partition) p};
my $end = $node->safe_psql('postgres', $ends);
$node->safe_psql('postgres', q{SELECT mq.append('s', '{"n": 2}')});
ok($node->poll_query_until('postgres', "SELECT ($ends) > $end"),
	'the readable end moved by an append is written for standbys');

# the TTL and the lease run out 20 s after they were made, when the worker
# has long left (mq.worker_idle_timeout is 2 s): the launcher brings one
# back at their deadline
$listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN "mq.dlq"');
ok($node->poll_query_until('postgres',
	"SELECT expired = 1 AND queue_length = 0 FROM mq.metrics('short_ttl')"),
	'a message expires at its TTL');
ok($node->poll_query_until('postgres',
	"SELECT dead_lettered = 1 AND queue_length = 0 FROM mq.metrics('short_poison')"),
	'a message read too often is dead-lettered when its lease ends');
ok(hear($listener, 'mq.dlq'), 'the dead-letter queue NOTIFYs the move');
$listener->quit;

# DROP EXTENSION: the worker leaves, and the database gets none until a
# CREATE EXTENSION commits there
$node->safe_psql('db1', q{SELECT mq.send('ttl', '{}')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mq.workers
	WHERE database = 'db1' AND pid IS NOT NULL}), 'a send brings db1 a worker');
$node->safe_psql('db1', 'DROP EXTENSION mq CASCADE');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity
	WHERE backend_type = 'mq worker' AND datname = 'db1'}), 'DROP EXTENSION makes it leave');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mq.workers WHERE database = 'db1'}), '0',
	'mq.workers no longer lists db1');
$node->safe_psql('db1', 'CREATE EXTENSION mq');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mq.workers WHERE database = 'db1'}),
	'CREATE EXTENSION brings db1 back');

# a pool larger than max_worker_processes can hold: the databases that find
# no room wait (the log says so) and still get their timed work
$node->safe_psql('postgres', 'ALTER SYSTEM SET mq.max_workers = 20');
$node->reload;
$log_offset = -s $node->logfile;
my @ten = @dbs[10 .. 19];
$node->safe_psql($_, q{SELECT mq.send('ttl', '{"n": 2}')}) for @ten;
for my $db (@ten)
{
	ok($node->poll_query_until($db, q{SELECT queue_length = 0 FROM mq.metrics('ttl')}),
		"$db: the TTL message expires");
}
like(slurp_file($node->logfile, $log_offset),
	qr/LOG:  mq: \d+ databases wait for a worker: max_worker_processes has no room for one/,
	'the log says when max_worker_processes has no room');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET mq.max_workers');
$node->reload;

# a database without mq: a commit that might concern mq there (DROP
# EXTENSION) brings one worker, which looks, takes the wakeup with it and
# leaves; no worker after it (each would commit a transaction there)
$node->safe_psql('postgres', 'CREATE DATABASE nomq');
$node->safe_psql('nomq', 'CREATE EXTENSION mq');
$node->safe_psql('nomq', 'DROP EXTENSION mq');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity
	WHERE backend_type = 'mq worker' AND datname = 'nomq'}), 'the worker leaves nomq');
# now nomq is known to have no mq and has no worker: a transaction that
# creates and drops mq wakes its worker at commit, which comes and finds none
$node->safe_psql('nomq', 'BEGIN; CREATE EXTENSION mq; DROP EXTENSION mq; COMMIT;');
sleep(3);
my $commits = q{SELECT pg_stat_clear_snapshot(), xact_commit FROM pg_stat_database
	WHERE datname = 'nomq'};
my $nomq_before = $node->safe_psql('postgres', $commits);
sleep(5);
is($node->safe_psql('postgres', $commits), $nomq_before,
	'no worker comes to a database without mq again and again');

# one worker for all, and a database whose NOTIFYs never stop: it makes way
# in turn, and another database's TTL still expires
$node->safe_psql('postgres', 'ALTER SYSTEM SET mq.max_workers = 1');
$node->reload;
$node->safe_psql('db2', q{SELECT mq.create_queue('busy', notify => true)});
my ($bout, $berr) = ('', '');
my $busy = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('db2'), '-c', q{DO $$
		DECLARE
			stop timestamptz := clock_timestamp() + interval '120 seconds';
		BEGIN
			WHILE clock_timestamp() < stop LOOP
				PERFORM mq.send('busy', '{}');
				COMMIT;
			END LOOP;
		END $$} ],
	'>', \$bout, '2>', \$berr);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'mq worker' AND datname = 'db2'}), 'the busy database has the worker');
$node->safe_psql('db3', q{SELECT mq.send('ttl', '{"n": 3}')});
ok($node->poll_query_until('db3', q{SELECT queue_length = 0 FROM mq.metrics('ttl')}),
	"another database's TTL expires while the busy one sends");
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE '%mq.send(''busy''%' AND pid <> pg_backend_pid()});
$busy->finish;
$node->safe_psql('postgres', 'ALTER SYSTEM RESET mq.max_workers');
$node->reload;

# a launcher that dies is replaced (after 5 s), and the worker the old one
# started, still there then (it stays 10 s idle here), gives its database
# back when it leaves: db1 gets workers again
$node->safe_psql('postgres', q{ALTER SYSTEM SET mq.worker_idle_timeout = '10s'});
$node->reload;
$node->safe_psql('db1', q{SELECT mq.create_queue('w1')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mq.workers
	WHERE database = 'db1' AND pid IS NOT NULL}), 'db1 has a worker');
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE backend_type = 'mq launcher'});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'mq launcher'}), 'a new launcher starts');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM mq.workers
	WHERE database = 'db1' AND pid IS NOT NULL}), "the old launcher's worker leaves");
$node->safe_psql('db1', q{SELECT mq.create_queue('w2')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM mq.workers
	WHERE database = 'db1' AND pid IS NOT NULL}), 'the new launcher gives db1 a worker');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET mq.worker_idle_timeout');
$node->reload;

$node->stop;
done_testing();
