# Background workers and wakeups: the workers start by themselves, do the
# timed work with nobody reading, survive errors and being killed, follow
# DROP/CREATE EXTENSION; a blocked reader is woken by a commit (not by a
# rollback) and holds no xmin while it sleeps; notify queues NOTIFY.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = '100ms'
# a worker per database all along (016 tests the pool's comings and goings)
mq.worker_idle_timeout = -1
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION mq');

my $worker_pid = q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'mq worker' AND datname = 'postgres'};

# A psql that blocks in mq.read(queue, wait => 60 s), with a poll interval
# of 10 s (the most there is), once it is seen waiting.  It prints
# "got <body->>n>".  Returns the IPC::Run handle; $$out and $$err fill in.
sub waiting_reader
{
	my ($queue, $out, $err) = @_;
	($$out, $$err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
		  '-c', "SET mq.poll_interval = '10s'",
		  '-c', "SELECT 'got ' || (body->>'n') FROM mq.read('$queue', 1, '1 minute', wait => '60 seconds')" ],
		'>', $out, '2>', $err);
	ok($node->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
		WHERE query LIKE '%mq.read(''$queue''%' AND wait_event = 'Extension'
		AND pid <> pg_backend_pid()}),
		"a reader waits on $queue");
	return $h;
}

# Does the listening session hear channel within a minute?
sub hear
{
	my ($session, $channel) = @_;
	foreach (1 .. 600)
	{
		return 1
		  if $session->query_safe('SELECT 1') =~ /Asynchronous notification "\Q$channel\E"/;
		usleep(100_000);
	}
	return 0;
}

ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mq launcher'"),
	'the launcher runs');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($worker_pid) w"),
	'a worker starts for the database with the extension');

# timed work with nobody reading
$node->safe_psql('postgres', q{
	SELECT mq.create_queue('ttl', message_ttl => '200 milliseconds');
	SELECT mq.send('ttl', '{"n": 1}');
});
ok($node->poll_query_until('postgres',
	"SELECT expired = 1 AND queue_length = 0 FROM mq.metrics('ttl')"),
	'the worker expires a TTL message that nobody reads');

# errors are logged and survived: a queue that cannot be maintained is
# skipped, with a warning, and the others are maintained
my $pid = $node->safe_psql('postgres', $worker_pid);
$node->safe_psql('postgres', q{
	SELECT mq.create_queue('broken', max_receives => 1);
	DROP TABLE mq.q_2 CASCADE;
	SELECT mq.send('ttl', '{"n": 2}');
});
ok($node->wait_for_log(qr/mq\.maintain\(\) skipped queue "broken": relation "mq\.q_2" does not exist/),
	'a queue that fails is logged');
ok($node->poll_query_until('postgres',
	"SELECT expired = 2 AND queue_length = 0 FROM mq.metrics('ttl')"),
	'the other queues are maintained meanwhile');
$node->safe_psql('postgres', q{
	DELETE FROM mq._queue_stats WHERE queue_id = 2;
	DELETE FROM mq._queue WHERE queue_id = 2;
});
is($node->safe_psql('postgres', $worker_pid), $pid, 'the worker survives the error');

# killed, it comes back
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM ($worker_pid) w WHERE pid <> $pid"),
	'a killed worker comes back');

# a blocked reader: woken by a commit, not by a rollback, no xmin held.
# Its poll interval (10 s) is longer than the time it is given, so only
# the commit's wakeup can bring it back in time.
$node->safe_psql('postgres', "SELECT mq.create_queue('w')");
my ($out, $err) = ('', '');
my $reader = waiting_reader('w', \$out, \$err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE query LIKE '%mq.read(''w''%' AND wait_event = 'Extension'
	AND backend_xmin IS NULL AND pid <> pg_backend_pid()}), '1',
	'a waiting reader sleeps on its latch with no xmin');
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT mq.send('w', '{"n": "rolled back"}');
	ROLLBACK;
});
my $start = time();
$node->safe_psql('postgres', q{SELECT mq.send('w', '{"n": "committed"}')});
$reader->finish;
is($out, "got committed\n", 'the commit wakes the reader with its message');
is($err, '', 'the reader had no error (its poll interval was set)');
cmp_ok(time() - $start, '<', 5,
	'the commit wakes the reader (its poll interval is 10 s)');

# a reader waiting on a dead-letter queue is woken by the move of a message
# into it (by a read of the source queue or by the worker's sweep), not by
# polling: its poll interval (10 s, the most there is) is longer than the
# time it is given
$node->safe_psql('postgres', q{
	SELECT mq.create_queue('w_dlq', notify => true);
	SELECT mq.create_queue('w_src', max_receives => 1, dead_letter_queue => 'w_dlq');
});
my $dlq_listener = $node->background_psql('postgres');
$dlq_listener->query_safe('LISTEN "mq.w_dlq"');
$reader = waiting_reader('w_dlq', \$out, \$err);
$start = time();
$node->safe_psql('postgres', q{
	SELECT mq.send('w_src', '{"n": "poison"}');
	SELECT count(*) FROM mq.read('w_src', 1, '1 millisecond');
	SELECT pg_sleep(0.01);
	SELECT count(*) FROM mq.read('w_src', 1);
});
$reader->finish;
is($out, "got poison\n", 'the dead letter reaches the waiting reader');
is($err, '', 'the reader had no error (its poll interval was set)');
cmp_ok(time() - $start, '<', 5,
	'the move wakes the reader (its poll interval is 10 s)');
ok(hear($dlq_listener, 'mq.w_dlq'),
	'a listener on a notify dead-letter queue hears the move');
$dlq_listener->quit;

# mq.redrive() wakes a reader waiting on the target queue, too
$reader = waiting_reader('w_src', \$out, \$err);
$start = time();
is($node->safe_psql('postgres', q{
	SELECT mq.send('w_dlq', '{"n": "redriven"}') IS NOT NULL;
	SELECT mq.redrive('w_dlq', 'w_src');
}), "t\n1", 'redrive moves the message that nobody holds');
$reader->finish;
is($out, "got redriven\n", 'the redriven message reaches the waiting reader');
is($err, '', 'the reader had no error (its poll interval was set)');
cmp_ok(time() - $start, '<', 5,
	'the redrive wakes the reader (its poll interval is 10 s)');

# notify => true: the worker sends NOTIFY "mq.<queue>"
$node->safe_psql('postgres', "SELECT mq.create_queue('n', notify => true)");
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN "mq.n"');
$node->safe_psql('postgres', q{SELECT mq.send('n', '{}')});
ok(hear($listener, 'mq.n'), 'a listener hears "mq.n" after a send commits');

# an idle transaction that holds a queue's lock (a compaction left open)
# stops neither the other queues' expiry nor the NOTIFYs: the worker skips
# the locked queue and maintains it once the lock is gone
$node->safe_psql('postgres', q{
	SELECT mq.create_queue('held', message_ttl => '200 milliseconds');
	SELECT mq.send('held', '{}');
});
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe(q{SELECT mq.compact_queue('held')});
$node->safe_psql('postgres', q{
	SELECT mq.send('ttl', '{"n": 3}');
	SELECT mq.send('n', '{}');
});
ok($node->poll_query_until('postgres',
	"SELECT expired = 3 AND queue_length = 0 FROM mq.metrics('ttl')"),
	'a message of another queue expires while a queue is locked');
ok(hear($listener, 'mq.n'), 'the NOTIFY of another queue is sent while a queue is locked');
$holder->query_safe('COMMIT');
$holder->quit;
ok($node->poll_query_until('postgres',
	"SELECT expired = 1 AND queue_length = 0 FROM mq.metrics('held')"),
	'the locked queue is maintained once its lock is gone');

# a NOTIFY round that fails is not lost: the worker sends it with the next
# round.  The worker is made to fail by a lock on the queue catalog and a
# lock_timeout (a database setting, which the restarted worker takes up).
my $sender = $node->background_psql('postgres');
$sender->query_safe(q{SELECT mq.send('n', '{}')});	# its queue cache is warm
ok(hear($listener, 'mq.n'), 'the notification of the warming send comes');
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET lock_timeout = '100ms'});
my $old_pid = $node->safe_psql('postgres', $worker_pid);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old_pid)");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM ($worker_pid) w WHERE pid <> $old_pid"),
	'a new worker starts with lock_timeout set');
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE mq._queue IN ACCESS EXCLUSIVE MODE');
my $log_offset = -s $node->logfile;
$sender->query_safe(q{SELECT mq.send('n', '{}')});
ok($node->wait_for_log(qr/lock timeout[^\n]*\n[^\n]*(?:QUERY|CONTEXT):[^\n]*pg_notify/, $log_offset),
	'the NOTIFY round fails while the catalog is locked');
$locker->query_safe('COMMIT');
$locker->quit;
ok(hear($listener, 'mq.n'), 'the notification of the failed round is sent by a later one');
$node->safe_psql('postgres', 'ALTER DATABASE postgres RESET lock_timeout');
$sender->quit;
$listener->quit;

# commands that need a database to themselves make its worker leave first:
# without that they fail with "database ... is being accessed by other users"
$node->safe_psql('postgres', q{
	CREATE DATABASE d1;
	CREATE ROLE someone LOGIN;
});
$node->safe_psql('d1', 'CREATE EXTENSION mq');
my $worker_in = sub {
	my $db = shift;
	return qq{SELECT count(*) = 1 FROM pg_stat_activity
		WHERE backend_type = 'mq worker' AND datname = '$db'};
};
ok($node->poll_query_until('postgres', $worker_in->('d1')), 'a worker serves d1');
my $d1_worker = q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'mq worker' AND datname = 'd1'};
my $d1_pid = $node->safe_psql('postgres', $d1_worker);
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP DATABASE d1',
	extra_params => [ '-U', 'someone' ]);
like($stderr, qr/must be owner of database d1/,
	'a role that does not own the database cannot drop it ...');
sleep(1);
is($node->safe_psql('postgres', $d1_worker), $d1_pid,
	'... and does not make its worker leave');
is($node->psql('postgres', 'ALTER DATABASE d1 RENAME TO d2'), 0,
	'ALTER DATABASE RENAME of a database with a worker');
ok($node->poll_query_until('postgres', $worker_in->('d2')), 'a worker serves d2');
is($node->psql('postgres', 'CREATE DATABASE d3 TEMPLATE d2'), 0,
	'CREATE DATABASE ... TEMPLATE a database with a worker');
ok($node->poll_query_until('postgres', $worker_in->('d2')), 'a worker serves d2 again');
my $d2 = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'd2'");
$log_offset = -s $node->logfile;
is($node->psql('postgres', 'DROP DATABASE d2'), 0,
	'DROP DATABASE of a database with a worker, without FORCE');
# no worker of the dropped database is started again and again (the
# postmaster used to restart it every 5 seconds, to fail each time)
sleep(12);
my $failures = () = slurp_file($node->logfile, $log_offset) =~ /database $d2 does not exist/g;
cmp_ok($failures, '<=', 1, 'no worker keeps trying to connect to the dropped database');
$node->safe_psql('postgres', 'DROP DATABASE d3; DROP ROLE someone');

# DROP EXTENSION stops the worker, CREATE EXTENSION brings it back
$node->safe_psql('postgres', 'DROP EXTENSION mq CASCADE');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM ($worker_pid) w"),
	'DROP EXTENSION stops the worker');
$node->safe_psql('postgres', 'CREATE EXTENSION mq');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($worker_pid) w"),
	'CREATE EXTENSION starts it again');

$node->stop;
done_testing();
