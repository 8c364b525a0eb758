# Durability per queue and per stream (doc/operations.md, "Durability"):
# with a synchronous standby, a send to a 'replicated' queue (or an append
# to a 'replicated' stream, or a publish that reaches such a queue) commits
# only once the standby has it, whatever synchronous_commit the session set;
# a 'local' queue's send does not wait; and a send that needs more
# synchronous standbys than stream fails at once (53000).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
# commits wait for no standby unless a replicated queue asks (the setup
# doc/operations.md suggests)
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
synchronous_commit = local
max_prepared_transactions = 5
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq.create_queue('rq', durability => 'replicated');
	SELECT mq.create_queue('rq2', durability => 'replicated', min_replicas => 2);
	SELECT mq.create_queue('lq');
	SELECT mq.create_stream('rs', durability => 'replicated');
	SELECT mq.create_exchange('ex', 'direct');
	SELECT mq.bind('ex', 'rq', 'k');
	-- a wrapper whose SET clause turns synchronous_commit off around the send
	CREATE FUNCTION send_off(q text) RETURNS bigint LANGUAGE sql
		SET synchronous_commit = off
		AS $$ SELECT mq.send(q, '{"via": "wrapper"}') $$;
});
$primary->backup('backup');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', q{
cluster_name = 'standby'
});
$standby->start;
$primary->safe_psql('postgres', q{
	ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (standby)';
	SELECT pg_reload_conf();
});
ok($primary->poll_query_until('postgres',
	q{SELECT sync_state = 'quorum' AND state = 'streaming' FROM pg_stat_replication
	  WHERE application_name = 'standby'}),
	'the standby is synchronous and streaming');

# with the standby streaming: replicated sends go through
is($primary->safe_psql('postgres', q{SELECT mq.send('rq', '{"n": 0}') > 0}), 't',
	'a replicated send commits with the standby streaming');
is($primary->safe_psql('postgres', q{SELECT (mq.append('rs', '{"n": 0}')).position}), '0',
	'a replicated append commits with the standby streaming');

# min_replicas above the streaming count fails at once, and writes nothing
my ($ret, $out, $err) = $primary->psql('postgres',
	q{\set VERBOSITY verbose
	  SELECT mq.send('rq2', '{"n": 0}')}, timeout => 30);
like($err, qr/53000: not enough synchronous standbys for replicated queue "rq2"/,
	'min_replicas 2 with one standby streaming: refused with 53000');
like($err, qr/DETAIL:  min_replicas is 2; synchronous standbys streaming: 1\./,
	'the detail counts the streaming standbys');
is($primary->safe_psql('postgres', q{SELECT queue_length FROM mq.metrics('rq2')}), '0',
	'the refused send left nothing');

# A transaction sends while the standby streams, then the standby stops:
# its commit waits (on SyncRep) until the standby is back, and nobody sees
# the message meanwhile.  Each case is a way of sending; none may skip the
# wait, whatever synchronous_commit the session (or a function) set.
my @cases = (
	[ 'mq.send with synchronous_commit = off',
	  q{SET synchronous_commit = off}, q{SELECT mq.send('rq', '{"n": 1}')},
	  q{SELECT queue_length FROM mq.metrics('rq')} ],
	[ 'mq.publish reaching a replicated queue (synchronous_commit = local)',
	  q{SET synchronous_commit = local}, q{SELECT mq.publish('ex', 'k', '{"n": 2}')},
	  q{SELECT queue_length FROM mq.metrics('rq')} ],
	[ 'mq.send in a function with SET synchronous_commit = off',
	  q{SET synchronous_commit = local}, q{SELECT send_off('rq')},
	  q{SELECT queue_length FROM mq.metrics('rq')} ],
	[ 'mq.append to a replicated stream with synchronous_commit = off',
	  q{SET synchronous_commit = off}, q{SELECT mq.append('rs', '{"n": 3}')},
	  q{SELECT count(*) FROM mq.read_stream('rs', 0, 0)} ],
);
foreach my $case (@cases)
{
	my ($name, $set, $send, $count) = @$case;
	my $before = $primary->safe_psql('postgres', $count);
	my $session = $primary->background_psql('postgres');
	$session->query_safe($set);
	$session->query_safe('BEGIN');
	$session->query_safe($send);
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	$standby->stop;
	$session->query_until(qr/committing/, "\\echo committing\nCOMMIT;\n");
	ok($primary->poll_query_until('postgres',
		"SELECT wait_event = 'SyncRep' FROM pg_stat_activity WHERE pid = $pid"),
		"$name: the commit waits for the standby");
	sleep 1;
	is($primary->safe_psql('postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $pid"), 'SyncRep',
		"$name: and goes on waiting while the standby is away");
	is($primary->safe_psql('postgres', $count), $before,
		"$name: nobody sees the message meanwhile");
	$standby->start;
	ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid AND wait_event = 'SyncRep'"),
		"$name: the commit returns once the standby is back");
	is($primary->safe_psql('postgres', $count), $before + 1,
		"$name: the message is there");
	$primary->wait_for_catchup($standby);
	is($standby->safe_psql('postgres', $count), $before + 1,
		"$name: and on the standby");
	$session->quit;
}

# PREPARE TRANSACTION after a replicated send waits as a commit does: the
# prepare record is what COMMIT PREPARED later makes visible
{
	my $before = $primary->safe_psql('postgres', q{SELECT queue_length FROM mq.metrics('rq')});
	my $session = $primary->background_psql('postgres');
	$session->query_safe('SET synchronous_commit = off');
	$session->query_safe('BEGIN');
	$session->query_safe(q{SELECT mq.send('rq', '{"n": "prepared"}')});
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	$standby->stop;
	$session->query_until(qr/preparing/, "\\echo preparing\nPREPARE TRANSACTION 'mq_p1';\n");
	ok($primary->poll_query_until('postgres',
		"SELECT wait_event = 'SyncRep' FROM pg_stat_activity WHERE pid = $pid"),
		'PREPARE TRANSACTION after a replicated send waits for the standby');
	$standby->start;
	ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_prepared_xacts WHERE gid = 'mq_p1'"),
		'... and prepares once the standby is back');
	$primary->safe_psql('postgres', q{COMMIT PREPARED 'mq_p1'});
	is($primary->safe_psql('postgres', q{SELECT queue_length FROM mq.metrics('rq')}), $before + 1,
		'COMMIT PREPARED delivers the message');
	$session->quit;
}

# What consumers do to a replicated queue or stream waits at commit too, or
# a failover could undo it (a lease forgotten: the message goes to a second
# holder; an ack or a group's commit forgotten: delivered again): a lease,
# an ack, a nack and a group's commit, with the session at
# synchronous_commit = local
$primary->safe_psql('postgres', q{SELECT mq.create_consumer_group('rs', 'g', 'earliest')});
my @consumer_cases = (
	[ 'a lease (mq.read) of a replicated queue', undef,
	  q{SELECT count(*) FROM mq.read('rq', 1, '1 s')} ],
	[ 'mq.ack on a replicated queue', q{SELECT mq.send('rq', '{"n": "acked"}')},
	  q{SELECT mq.ack('rq', ARG)} ],
	[ 'mq.nack on a replicated queue', q{SELECT msg_id FROM mq.read('rq', 1, '1 h')},
	  q{SELECT mq.nack('rq', ARG)} ],
	[ 'a consumer group\'s mq.commit on a replicated stream', undef,
	  q{SELECT count(*) FROM mq.poll('rs', 'g', 'c1'); SELECT mq.commit('rs', 'g', 'c1', 0, 1)} ],
);
foreach my $case (@consumer_cases)
{
	my ($name, $prep, $call) = @$case;
	if ($prep)
	{
		my $arg = $primary->safe_psql('postgres', $prep);
		$call =~ s/ARG/$arg/;
	}
	my $session = $primary->background_psql('postgres');
	$session->query_safe('SET synchronous_commit = local');
	$session->query_safe('BEGIN');
	$session->query_safe($call);
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	$standby->stop;
	$session->query_until(qr/committing/, "\\echo committing\nCOMMIT;\n");
	ok($primary->poll_query_until('postgres',
		"SELECT wait_event = 'SyncRep' FROM pg_stat_activity WHERE pid = $pid"),
		"$name: the commit waits for the standby");
	$standby->start;
	ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid AND wait_event = 'SyncRep'"),
		"$name: the commit returns once the standby is back");
	$session->quit;
}

# with the standby away: a local queue's send does not wait, a replicated
# one's fails at once
$standby->stop;
ok($primary->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_stat_replication}), 'the standby is gone');
($ret, $out, $err) = $primary->psql('postgres',
	q{SELECT mq.send('lq', '{"n": 4}') > 0}, timeout => 30);
is($out, 't', 'a local queue\'s send commits without the standby');
($ret, $out, $err) = $primary->psql('postgres',
	q{SET synchronous_commit = local;
	  SELECT count(*) FROM mq.read('lq', 1, '1 s')}, timeout => 30);
is($out, '1', 'a local queue\'s lease (synchronous_commit = local) commits without the standby');
($ret, $out, $err) = $primary->psql('postgres',
	q{\set VERBOSITY verbose
	  SET synchronous_commit = off;
	  SELECT mq.send('rq', '{"n": 5}')}, timeout => 30);
like($err, qr/53000: not enough synchronous standbys for replicated queue "rq"/,
	'a replicated send without a streaming standby is refused at once');
($ret, $out, $err) = $primary->psql('postgres',
	q{SELECT mq.append('rs', '{"n": 5}')}, timeout => 30);
like($err, qr/not enough synchronous standbys for replicated stream "rs"/,
	'so is a replicated append');
is($primary->safe_psql('postgres', q{SELECT queue_length FROM mq.metrics('rq')}), '5',
	'the refused send left nothing');

# two standbys stream, but a commit waits for num_sync of them: with
# ANY 1 (...) a queue that asks for two is refused, counting one; with
# ANY 2 (...) it goes through
my $standby2 = PostgreSQL::Test::Cluster->new('standby2');
$standby2->init_from_backup($primary, 'backup', has_streaming => 1);
$standby2->append_conf('postgresql.conf', q{
cluster_name = 'standby2'
});
$standby->start;
$standby2->start;
$primary->safe_psql('postgres', q{
	ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (standby, standby2)';
	SELECT pg_reload_conf();
});
ok($primary->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM pg_stat_replication WHERE sync_state = 'quorum' AND state = 'streaming'}),
	'two standbys stream, each a quorum candidate');
($ret, $out, $err) = $primary->psql('postgres',
	q{\set VERBOSITY verbose
	  SELECT mq.send('rq2', '{"n": 6}')}, timeout => 30);
like($err, qr/DETAIL:  min_replicas is 2; synchronous standbys streaming: 1\./,
	'with ANY 1, a commit waits for one standby: min_replicas 2 is refused');
$primary->safe_psql('postgres', q{
	ALTER SYSTEM SET synchronous_standby_names = 'ANY 2 (standby, standby2)';
	SELECT pg_reload_conf();
});
ok($primary->poll_query_until('postgres',
	q{SELECT mq.send('rq2', '{"n": 7}') > 0}, 't'),
	'with ANY 2, min_replicas 2 is met and the send commits');
$standby2->stop;

$primary->stop;
done_testing();
