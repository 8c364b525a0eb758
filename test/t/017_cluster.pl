# The mq cluster behind PL/Proxy (doc/cluster.md): two mq nodes and a proxy
# database with mq_cluster.  Every call of the mq API through the proxy, each
# queue on the node of its name's hash, exchanges delivering to bound queues
# on both nodes once, stream partitions in ranges per node; a ledger of 8
# producers and 8 consumers on 16 queues over both nodes (nothing lost or
# duplicated); a consumer group of 3 over 8 partitions on 2 nodes, one member
# killed, every record's result written once; connections to a node lost
# during a call (08006) and one node stopped: every call that needs it fails
# with an error naming it (08001), the other node's queues work on; and
# growing to 4 nodes with scripts/cluster_grow.sh: queues with their
# messages, a stream of 8 partitions with its records at their positions
# and its groups at their commits, a run stopped part way and run again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);

my $proxy = PostgreSQL::Test::Cluster->new('proxy');
$proxy->init;
$proxy->append_conf('postgresql.conf', "max_connections = 60\n");
$proxy->start;
if ($proxy->safe_psql('postgres',
		"SELECT count(*) FROM pg_available_extensions WHERE name = 'plproxy'") eq '0')
{
	$proxy->stop;
	plan skip_all => 'plproxy is not installed (Debian: postgresql-15-plproxy; there is none for 16 and later)';
}

my @nodes;
foreach my $i (0, 1)
{
	my $n = PostgreSQL::Test::Cluster->new("node$i");
	$n->init;
	$n->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 0
max_connections = 60
});
	$n->start;
	$n->safe_psql('postgres', 'CREATE EXTENSION mq');
	push @nodes, $n;
}

my ($p0, $p1) = map { $_->connstr('postgres') =~ s/'//gr } @nodes;
$proxy->safe_psql('postgres', qq{
	CREATE EXTENSION mq_cluster CASCADE;
	CREATE SERVER mq_cluster FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '$p0', p1 '$p1');
	CREATE USER MAPPING FOR PUBLIC SERVER mq_cluster;
});

sub px { return $proxy->safe_psql('postgres', $_[0]) }
sub on { return $nodes[$_[0]]->safe_psql('postgres', $_[1]) }

# the error of a statement through the proxy, with its SQLSTATE
sub px_error
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = $proxy->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$out, stderr => \$err);
	return $rc == 0 ? "no error: $out" : $err;
}

is(px('SELECT mq.cluster_size()'), '2', 'the cluster has 2 nodes');
like(px_error(q{CREATE EXTENSION mq_cluster}), qr/already exists/, 'mq_cluster once');
my $e0 = '';
$nodes[0]->psql('postgres', 'CREATE EXTENSION mq_cluster CASCADE', stderr => \$e0);
like($e0, qr/mq_cluster cannot be installed next to mq/, 'not next to mq');

# --- queues: on the node of their name's hash ---

# 16 names, and which node each lands on
my @queues = map { "q$_" } 1 .. 16;
my %node_of = map { $_ => px("SELECT mq.cluster_node('$_')") } @queues;
my $on0 = grep { $node_of{$_} == 0 } @queues;
ok($on0 > 0 && $on0 < 16, "the 16 queues spread over both nodes ($on0 on node 0)");
is(px(q{SELECT mq.cluster_hash('q1')}),
	px(q{SELECT ('x' || substr(md5('q1'), 1, 8))::bit(32)::int}), 'the hash is md5\'s first 32 bits');
px("SELECT mq.create_queue('$_')") for @queues;
foreach my $i (0, 1)
{
	is(on($i, q{SELECT string_agg(queue_name, ',' ORDER BY queue_name) FROM mq.queues}),
		join(',', sort grep { $node_of{$_} == $i } @queues), "node $i has its queues, only");
}
is(px(q{SELECT count(*) FROM mq.queues WHERE node = mq.cluster_node(queue_name)}), '16',
	'mq.queues shows every node\'s queues with their node');

# every send form, read, pop, ack, nack, set_vt, archive on one queue
my ($qa) = grep { $node_of{$_} == 1 } @queues;
px(qq{SELECT mq.alter_queue('$qa', visibility_timeout => '1 minute', archive => true)});
is(px(qq{SELECT visibility_timeout FROM mq.queues WHERE queue_name = '$qa'}), '00:01:00', 'alter_queue');
is(px(qq{SELECT mq.send('$qa', '{"n": 1}', headers => '{"h": 1}', dedup_key => 'd1',
		priority => 2, correlation_id => 'c1', reply_to => 'r')}), '1', 'send with options');
is(px(qq{SELECT mq.send('$qa', '{"n": 1}', dedup_key => 'd1')}), '1', 'send deduplicates on the node');
is(px(qq{SELECT mq.send('$qa', payload => '\\x0102', content_type => 'application/octet-stream')}),
	'2', 'send of a payload');
is(px(qq{SELECT string_agg(s::text, ',') FROM mq.send_batch('$qa',
		ARRAY['{"n": 3}', '{"n": 4}', '{"n": 5}']::jsonb[]) s}), '3,4,5', 'send_batch');
is(px(qq{SELECT mq.send('$qa', '{"n": 6}', delay => '1 hour', ttl => '2 hours')}), '6', 'send delayed');
is(px(qq{SELECT string_agg(msg_id || ':' || coalesce(body->>'n', encode(payload, 'hex')) || ':'
		|| coalesce(correlation_id, '-'), ',' ORDER BY msg_id) FROM mq.read('$qa', 3)}),
	'1:1:c1,2:0102:-,3:3:-', 'read returns the messages as mq.message');
is(px(qq{SELECT mq.ack('$qa', 1), mq.nack('$qa', 2), mq.archive('$qa', 3)}), 't|t|t', 'ack, nack, archive');
is(px(qq{SELECT mq.ack('$qa', 1)}), 'f', 'a second ack finds nothing');
is(px(qq{SELECT msg_id || ':' || read_ct FROM mq.read('$qa', 1, visibility_timeout => '10 minutes')}),
	'2:2', 'a nacked message comes again');
ok(px(qq{SELECT mq.set_vt('$qa', 2, '0 seconds') <= now() + interval '1 second'}), 'set_vt');
is(px(qq{SELECT string_agg(msg_id || ':' || state || ':' || read_ct, ',') FROM mq.peek('$qa')}),
	'2:visible:2,4:visible:0,5:visible:0,6:delayed:0', 'peek from the queue\'s node, leasing nothing');
is(px(qq{SELECT string_agg(msg_id::text, ',' ORDER BY msg_id) FROM mq.pop('$qa', 2)}), '2,4', 'pop');
is(px(qq{SELECT string_agg(a::text, ',') FROM mq.read('$qa', 1) r,
		LATERAL mq.ack_batch('$qa', ARRAY[r.msg_id, 99]) a}), '5', 'ack_batch');
is(px(qq{SELECT count(*) FROM mq.archive_batch('$qa', ARRAY[6])}), '1', 'archive_batch');
is(px(qq{SELECT queue_length || ':' || archive_length || ':' || node FROM mq.metrics('$qa')}), '0:4:1',
	'metrics of a queue, with its node');
is(px(q{SELECT count(*) || ':' || count(DISTINCT node) FROM mq.metrics_all()}), '16:2',
	'metrics_all shows every node\'s queues');
is(px(qq{SELECT mq.send('$qa', '{}'), mq.purge_queue('$qa'), mq.compact_queue('$qa') >= 0}), '7|1|t',
	'purge_queue, compact_queue');

# a read with wait through the proxy is woken by a send through the proxy
my ($wout, $werr) = ('', '');
my $waiter = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $proxy->connstr('postgres'),
	  '-c', "SELECT 'got ' || (body->>'w') FROM mq.read('$qa', 1, wait => '60 seconds')" ],
	'>', \$wout, '2>', \$werr);
ok($nodes[1]->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE '%mq.read(%' AND wait_event = 'Extension'}), 'a read waits on the node');
my $t0 = time;
px(qq{SELECT mq.send('$qa', '{"w": 9}')});
$waiter->pump until $wout =~ /got 9/ || time - $t0 > 30;
$waiter->finish;
like($wout, qr/got 9/, 'the waiting read gets the message sent meanwhile');

# dead-letter queues and redrive stay on one node
my ($qb) = grep { $node_of{$_} == 0 } @queues;
my ($qc) = grep { $node_of{$_} == 1 && $_ ne $qa } @queues;
like(px_error(qq{SELECT mq.create_queue('x_dl', dead_letter_queue => '$qb')}),
	qr/0A000.*dead-letter queue "$qb" lives on node 0, not on node 1 with queue "x_dl".*HINT:  Pick a name on the same node/s,
	'a dead-letter queue on another node is refused')
	if px(q{SELECT mq.cluster_node('x_dl')}) eq '1';
px(qq{SELECT mq.alter_queue('$qa', max_receives => 1, dead_letter_queue => '$qc')});
is(px(qq{SELECT mq.redrive('$qc', '$qa')}), '0', 'redrive on the node');
like(px_error(qq{SELECT mq.redrive('$qc', '$qb')}), qr/redrive target "$qb" lives on node 0/,
	'a redrive to another node is refused');
like(px_error(q{SELECT mq.send('nosuch', '{}')}),
	qr/42704.*REMOTE ERROR: queue "nosuch" does not exist/s, 'a node\'s error comes through with its SQLSTATE');
is(px(q{SELECT mq.drop_queue('nosuch', if_exists => true)}), 'f', 'drop_queue if_exists');
like(px_error(q{SELECT mq.send(NULL, '{}')}), qr/22004: the name of a queue or stream must not be null/,
	'a NULL name is refused before routing');
like(px_error(q{SELECT mq.metrics(NULL)}), qr/22004/, 'by every call that routes by it');

# --- exchanges: on every node; a publish delivers to every bound queue once ---
px(q{SELECT mq.create_exchange('events', 'topic')});
is(on(0, q{SELECT type FROM mq.exchanges}) . on(1, q{SELECT type FROM mq.exchanges}), 'topictopic',
	'an exchange exists on every node');
like(px_error(q{SELECT mq.create_exchange('ae', 'fanout', alternate_exchange => 'events')}),
	qr/0A000.*an alternate exchange does not work through the mq cluster proxy/s,
	'alternate exchanges are refused');
px("SELECT mq.purge_queue('$_')") for @queues;
px("SELECT mq.bind('events', '$_', 'order.*')") for @queues;
is(px(q{SELECT count(*) || ':' || count(DISTINCT node) FROM mq.bindings WHERE source = 'events'}), '16:2',
	'each binding on its queue\'s node');
is(px(q{SELECT mq.publish('events', 'order.created', '{"o": 1}')}), '16', 'publish reaches the 16 queues');
is(px(q{SELECT sum(queue_length) || ':' || max(queue_length) FROM mq.metrics_all()}), '16:1',
	'once each, on both nodes');
is(px(q{SELECT string_agg(n::text, ',') FROM mq.publish_batch('events', ARRAY['order.x', 'none'],
		ARRAY['{}', '{}']::jsonb[]) n}), '16,0', 'publish_batch counts per message over the nodes');
like(px_error(q{SELECT mq.publish('events', 'none', '{}', mandatory => true)}),
	qr/P0002.*message to exchange "events" with routing key "none" is unroutable/s,
	'mandatory over the whole cluster');
px(q{SELECT mq.create_exchange('all', 'fanout'); SELECT mq.bind_exchange('all', 'events', 'order.y')});
is(px(q{SELECT mq.publish('all', 'order.y', '{}')}), '16', 'an exchange-to-exchange binding on every node');
is(px(q{SELECT count(*) FROM mq.bindings WHERE destination_type = 'exchange' AND node IS NULL}), '1',
	'shown once');
is(px(q{SELECT mq.unbind_exchange('all', 'events', 'order.y'), mq.drop_exchange('all'),
		mq.unbind('events', 'q1', 'order.*')}), 't|t|t', 'unbind_exchange, drop_exchange, unbind');
is(px(q{SELECT mq.publish('events', 'order.z', '{}')}), '15', 'an unbound queue gets nothing');
is(px(q{SELECT count(*) FROM mq.exchanges}), '1', 'mq.exchanges');
px("SELECT mq.purge_queue('$_')") for @queues;

# --- streams: 8 partitions, 4 on each node ---
like(px_error(q{SELECT mq.create_stream('s3', 3)}),
	qr/22023.*a stream of the mq cluster needs a multiple of 2 partitions, not 3/s,
	'partitions must be a multiple of the nodes');
px(q{SELECT mq.create_stream('s', 8)});
is(on(0, q{SELECT partitions FROM mq.streams}) . on(1, q{SELECT partitions FROM mq.streams}), '44',
	'each node holds 4 partitions');
is(px(q{SELECT partitions FROM mq.streams}), '8', 'mq.streams shows the 8');
my $keys = join(',', map { "'k$_'" } 1 .. 300);
is(px(qq{SELECT string_agg(mq.stream_partition(k, 8)::text, ',') FROM unnest(ARRAY[$keys, 'é', '']) k}),
	on(0, qq{SELECT string_agg(mq.stream_partition(k, 8)::text, ',') FROM unnest(ARRAY[$keys, 'é', '']) k}),
	'mq.stream_partition on the proxy is the node\'s');
is(px(q{SELECT count(*) FROM (SELECT k, mq.stream_partition(k, 8) p, mq.append('s', '{}', key => k) a
		FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) k) x WHERE (a).partition = p}), '8',
	'append puts a key in the partition of mq.stream_partition');
is(px(q{SELECT count(*) FROM mq.append_batch('s', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 40)),
		keys => ARRAY(SELECT 'b' || i FROM generate_series(1, 40) i))}), '40', 'append_batch');
is(px(q{SELECT bool_and(a.partition = mq.stream_partition(k, 8))
		FROM unnest(ARRAY['x1', 'x2', 'x3', 'x4', 'x5']) WITH ORDINALITY AS u(k, o)
		JOIN (SELECT row_number() OVER () o, * FROM mq.append_batch('s', ARRAY['{}', '{}', '{}', '{}', '{}']::jsonb[],
			  keys => ARRAY['x1', 'x2', 'x3', 'x4', 'x5'])) a USING (o)}), 't',
	'append_batch returns the positions in the batch\'s order');
px(q{SELECT mq.append('s', '{"nokey": true}')});
is(px(q{SELECT sum(mq.stream_end('s', p)) FROM generate_series(0, 7) p}), '54', 'stream_end of every partition');
is(on(0, q{SELECT sum(mq.stream_end('s', p)) FROM generate_series(0, 3) p}) +
	on(1, q{SELECT sum(mq.stream_end('s', p)) FROM generate_series(0, 3) p}), 54, 'the records are on the nodes');
my $pa = px(q{SELECT mq.stream_partition('a', 8)});
is(px(qq{SELECT partition || ':' || position || ':' || key FROM mq.read_stream('s', $pa, 0, 1)}), "$pa:0:a",
	'read_stream of a partition on its node');
is(px(q{SELECT mq.stream_start('s', 7)}), '0', 'stream_start');
like(px_error(q{SELECT * FROM mq.poll('nostream', 'g', 'm1')}), qr/REMOTE ERROR: stream "nostream" does not exist/,
	'poll of a stream that does not exist');
like(px_error(q{SELECT mq.commit('nostream', 'g', 'm1', 0, 1)}), qr/42704: stream "nostream" does not exist/,
	'commit of a stream that does not exist');
like(px_error(q{SELECT mq.stream_end('s', 8)}), qr/22023.*partition 8 of stream "s" does not exist/s,
	'a partition past the stream\'s');
px(q{SELECT mq.create_consumer_group('s', 'g', 'earliest')});
is(px(q{SELECT count(*) || ':' || count(DISTINCT partition) FROM mq.poll('s', 'g', 'm1', 1000)}), '54:8',
	'poll gets records from every node\'s partitions');
px(qq{SELECT mq.commit('s', 'g', 'm1', $pa, 1)});
is(px(qq{SELECT committed_position || ':' || consumer || ':' || node FROM mq.consumer_groups
		WHERE partition = $pa}), "1:m1:" . int($pa / 4), 'commit on the partition\'s node');
is(px(qq{SELECT consumer FROM mq.partition_holder('s', 'g', $pa)}), 'm1', 'partition_holder');
like(px_error(qq{SELECT mq.commit('s', 'g', 'm2', $pa, 1)}), qr/55000.*does not hold partition/s,
	'a commit by a consumer that does not hold the partition is refused');
px(q{SELECT mq.seek('s', 'g', to_end => 'earliest')});
px(qq{SELECT mq.seek('s', 'g', $pa, 1)});
is(px(qq{SELECT sum(committed_position) FROM mq.consumer_groups WHERE consumer_group = 'g'}), '1', 'seek');
px(q{SELECT mq.alter_stream('s', retention => '1 day')});
is(px(q{SELECT retention FROM mq.streams}), '1 day',
	'alter_stream');
is(px(q{SELECT mq.drop_consumer_group('s', 'g'), mq.drop_stream('s')}), 't|t', 'drop_consumer_group, drop_stream');

# --- what does not work through the proxy, and says so ---
like(px_error(q{SELECT mq.metrics_prometheus()}),
	qr/0A000.*mq.metrics_prometheus\(\) does not work through the mq cluster proxy.*HINT:  Scrape every node/s,
	'metrics_prometheus');
like(px_error(q{SELECT * FROM mq.worker_status()}), qr/0A000.*HINT:  Background workers run on the nodes/s,
	'worker_status');
like(px_error(q{SELECT * FROM mq.shared_memory_usage()}), qr/0A000/, 'shared_memory_usage');
like(px_error(qq{CREATE TABLE t (x int); CREATE TRIGGER t AFTER INSERT ON t FOR EACH ROW
		EXECUTE FUNCTION mq.send_trigger('$qa'); INSERT INTO t VALUES (1)}),
	qr/0A000.*mq.send_trigger\(\) does not work through the mq cluster proxy.*HINT:  A proxy call commits on its node by itself/s,
	'triggers');
is(px(q{SELECT count(*) FROM mq.maintain()}), px(q{SELECT count(*) FROM mq.queues}),
	'maintain runs on every node');
px(q{CREATE ROLE alice LOGIN});
on($_, q{CREATE ROLE alice LOGIN}) for 0, 1;
px(q{SELECT mq.create_queue('granted')});
px(q{SELECT mq.grant('granted', 'alice', 'send')});
my $gn = px(q{SELECT mq.cluster_node('granted')});
is(on($gn, q{SELECT count(*) FROM mq.privileges WHERE grantee = 'alice'}), '1', 'grant on the queue\'s node');
# a role of the clients: USAGE on the server, and mq's privileges on the nodes
my ($aout, $aerr) = ('', '');
$proxy->psql('postgres', "SET ROLE alice; SELECT mq.send('granted', '{}')", stderr => \$aerr);
like($aerr, qr/permission denied for foreign server mq_cluster/, 'a role needs USAGE on the server');
px(q{GRANT USAGE ON FOREIGN SERVER mq_cluster TO alice});
is($proxy->safe_psql('postgres', q{SET ROLE alice; SELECT mq.send('granted', '{}') > 0}), 't',
	'then sends as itself, with its grant on the node');
$proxy->psql('postgres', q{SET ROLE alice; SELECT * FROM mq.read('granted')}, stderr => \$aerr);
like($aerr, qr/REMOTE ERROR: .*permission denied|insufficient|may not read|read privilege/i,
	'and is refused a read it was not granted, on the node');
px(q{SELECT mq.revoke('granted', 'alice', 'send')});
px(q{SELECT mq.purge_queue('granted')});
is(on($gn, q{SELECT count(*) FROM mq.privileges WHERE grantee = 'alice'}), '0', 'revoke');

# --- a ledger: 8 producers and 8 consumers on the 16 queues, through the proxy ---
px(q{
	CREATE TABLE ledger (producer int, i int, queue text, msg_id bigint);
	CREATE PROCEDURE produce(me int, n int) LANGUAGE plpgsql AS $$
	BEGIN
		FOR i IN 1 .. n LOOP
			IF i % 5 = 0 THEN
				PERFORM mq.send_batch('q' || ((me * 7 + i) % 16 + 1),
					ARRAY[jsonb_build_object('p', me, 'i', i), jsonb_build_object('p', me, 'i', -i)]);
			ELSE
				PERFORM mq.send('q' || ((me * 7 + i) % 16 + 1), jsonb_build_object('p', me, 'i', i));
			END IF;
		END LOOP;
	END $$;
	-- a consumer reads its two queues until the ledger is full; the ack is
	-- a proxy call that commits on the node at once, the ledger row commits
	-- right after it
	CREATE PROCEDURE consume(me int, total int) LANGUAGE plpgsql AS $$
	DECLARE
		q text;
		m record;
		deadline timestamptz := clock_timestamp() + interval '150 seconds';
	BEGIN
		WHILE clock_timestamp() < deadline LOOP
			FOREACH q IN ARRAY ARRAY['q' || (me + 1), 'q' || (me + 9)] LOOP
				FOR m IN SELECT * FROM mq.read(q, 10, wait => '50 ms') LOOP
					INSERT INTO ledger VALUES ((m.body->>'p')::int, (m.body->>'i')::int, q, m.msg_id);
					IF NOT mq.ack(q, m.msg_id) THEN
						RAISE EXCEPTION 'ack of % % found nothing', q, m.msg_id;
					END IF;
					COMMIT;
				END LOOP;
			END LOOP;
			EXIT WHEN (SELECT count(*) FROM ledger) >= total;
			COMMIT;
		END LOOP;
	END $$;
});
my $per = 100;	# 120 messages a producer: 80 sends and 20 batches of 2
my $total = 8 * ($per + $per / 5);
my @workers;
foreach my $w (0 .. 7)
{
	foreach my $call ("CALL consume($w, $total)", "CALL produce($w, $per)")
	{
		my ($o, $e) = ('', '');
		push @workers, [ $call, IPC::Run::start(
			[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $proxy->connstr('postgres'), '-c', $call ],
			'>', \$o, '2>', \$e), \$e ];
	}
}
foreach my $w (@workers)
{
	$w->[1]->finish;
	is($w->[1]->result(0), 0, "$w->[0] ends well") or diag ${ $w->[2] };
}
my ($rows, $distinct) = split /\|/, px(q{SELECT count(*), count(DISTINCT (producer, i)) FROM ledger});
is($distinct, $total, "every message sent through the proxy was received ($total)");
is($rows, $total, 'none twice');
is(px(q{SELECT sum(queue_length) FROM mq.metrics_all()}), '0', 'the queues are empty');
is(px(q{SELECT count(DISTINCT mq.cluster_node(queue)) FROM ledger}), '2', 'on both nodes');

# --- a consumer group of 3 over 8 partitions on 2 nodes, one member killed ---
# Each batch's results and its commit are one transaction on the
# partition's node (app_commit there, called through a PL/Proxy function of
# the application's), so every record has its result once.
foreach my $i (0, 1)
{
	on($i, q{
		CREATE TABLE results (partition int, position bigint, consumer text);
		CREATE FUNCTION app_commit(stream text, grp text, consumer text, global int, local int,
								   positions bigint[]) RETURNS void LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO results SELECT global, p, consumer FROM unnest(positions) p;
			PERFORM mq.commit(stream, grp, consumer, local, (SELECT max(p) FROM unnest(positions) p) + 1);
		END $$;
	});
}
px(q{
	CREATE FUNCTION app_commit(p_node int, stream text, grp text, consumer text, global int,
							   local int, positions bigint[]) RETURNS void AS $$
		CLUSTER 'mq_cluster';
		RUN ON p_node;
		SELECT app_commit(stream, grp, consumer, global, local, positions);
	$$ LANGUAGE plproxy;
	CREATE PROCEDURE group_consume(me text) LANGUAGE plpgsql AS $$
	DECLARE
		b record;
		c record;
		idle int := 0;
		got int;
	BEGIN
		LOOP
			got := 0;
			FOR b IN SELECT r.partition, array_agg(r.position ORDER BY r.position) AS positions
					 FROM mq.poll('gs', 'workers', me, 10, wait => '500 ms', session_timeout => '2 s') r
					 GROUP BY r.partition LOOP
				got := got + 1;
				c := mq.cluster_partition('gs', b.partition);
				BEGIN
					PERFORM pg_sleep(0.01);
					PERFORM app_commit(c.node, 'gs', 'workers', me, b.partition, c.local_partition,
									   b.positions);
				EXCEPTION WHEN OTHERS THEN
					-- fenced (the partition moved on): its new holder starts at the commit
					RAISE NOTICE 'not committed: %', SQLERRM;
				END;
			END LOOP;
			IF got = 0 THEN
				idle := idle + 1;
				EXIT WHEN idle >= 12;
			ELSE
				idle := 0;
			END IF;
			COMMIT;
		END LOOP;
	END $$;
	SELECT mq.create_stream('gs', 8);
	SELECT mq.create_consumer_group('gs', 'workers', 'earliest');
	SELECT count(*) FROM mq.append_batch('gs', ARRAY(SELECT jsonb_build_object('i', i) FROM generate_series(1, 2000) i),
		keys => ARRAY(SELECT 'key-' || i FROM generate_series(1, 2000) i));
});
is(px(q{SELECT count(DISTINCT node) || ':' || sum(end_position) FROM mq.consumer_groups WHERE stream = 'gs'}),
	'2:2000', 'the 2000 records are on both nodes');
my %members;
foreach my $m (qw(c1 c2 c3))
{
	my ($o, $e) = ('', '');
	$members{$m} = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $proxy->connstr('postgres'), '-c', "CALL group_consume('$m')" ],
		'>', \$o, '2>', \$e);
}
sub group_results
{
	return on(0, 'SELECT count(*) FROM results') + on(1, 'SELECT count(*) FROM results');
}
my $t1 = time;
usleep(200_000) while group_results() < 500 && time - $t1 < 120;
$proxy->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE 'CALL group_consume(''c2'')%'});
$members{c2}->finish;
my $at_kill = group_results();
cmp_ok($at_kill, '<', 2000, "a member is killed mid-stream ($at_kill results)");
$members{$_}->finish for qw(c1 c3);
my ($gtotal, $gdistinct) = (0, 0);
foreach my $i (0, 1)
{
	my ($t, $d) = split /\|/, on($i, q{SELECT count(*), count(DISTINCT (partition, position)) FROM results});
	$gtotal += $t;
	$gdistinct += $d;
}
is($gdistinct, 2000, 'every record of the stream has a result');
is($gtotal, 2000, 'and none has two');
is(px(q{SELECT sum(committed_position) FROM mq.consumer_groups WHERE stream = 'gs'}), '2000',
	'the committed positions are at the ends');
is(on(0, q{SELECT count(*) FROM results WHERE partition >= 4}) + on(1, q{SELECT count(*) FROM results WHERE partition < 4}),
	0, 'partitions 0-3 on node 0, 4-7 on node 1');

# --- a connection to a node lost during a call: 08006 naming the node ---
# a queue call: a read waiting on node 1 whose backend is terminated
my ($lout, $lerr) = ('', '');
my $lost = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $proxy->connstr('postgres'),
	  '-c', "SELECT * FROM mq.read('$qc', 1, wait => '60 seconds')" ],
	'>', \$lout, '2>', \$lerr);
ok($nodes[1]->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE '%mq.read(%' AND wait_event = 'Extension'}), 'a read waits on node 1');
on(1, q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%mq.read(%' AND pid <> pg_backend_pid()});
$lost->finish;
like($lerr, qr/08006: node 1 of the mq cluster failed during mq.read\(\) \(p1: [^)]*port=\d+[^)]*\)\nDETAIL:  The call on queue "$qc" may or may not have committed on the node/,
	'a read whose connection broke fails with 08006 naming the node');
# a call on every node: a declaration held up on node 1 by a lock, its backend terminated
my $blocker = $nodes[1]->background_psql('postgres');
$blocker->query_safe(q{BEGIN; SELECT mq.create_exchange('blk', 'fanout')});
($lout, $lerr) = ('', '');
$lost = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $proxy->connstr('postgres'),
	  '-c', q{SELECT mq.create_exchange('blk', 'fanout')} ],
	'>', \$lout, '2>', \$lerr);
ok($nodes[1]->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE '%create_exchange%' AND wait_event_type = 'Lock'}), 'a create_exchange waits on node 1');
on(1, q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE '%create_exchange%' AND wait_event_type = 'Lock'});
$lost->finish;
$blocker->query_safe('ROLLBACK');
$blocker->quit;
like($lerr, qr/08006: a node of the mq cluster failed during mq.create_exchange\(\)\nDETAIL:  Every node answers now; the call may or may not have been done on the node that failed. 57P01: .*REMOTE FATAL: terminating connection/,
	'a call on every node whose connection broke fails with 08006 (PL/Proxy does not say which node; all answer again)');
px(q{SELECT mq.drop_exchange('blk', if_exists => true)});

# --- one node stopped: every call that needs it names it, the other node works on ---
my ($q0) = grep { $node_of{$_} == 0 } @queues;
my ($q1) = grep { $node_of{$_} == 1 } @queues;
my ($new1) = grep { px("SELECT mq.cluster_node('$_')") eq '1' } map { "n$_" } 1 .. 20;
px(q{SELECT mq.create_exchange('ex2', 'fanout')});
# a password in the node's connection string is not shown
px(qq{ALTER SERVER mq_cluster OPTIONS (SET p1 '$p1 password=secret')});
$nodes[1]->stop('fast');
my $down = qr/08001: node 1 of the mq cluster is unreachable \(p1: \Q$p1\E password=\*\*\*\)\nDETAIL:  /;
like(px_error(qq{SELECT mq.send('$q1', '{}')}),
	qr/${down}mq.send\(\) on queue "$q1", which lives on node 1 \(option p1 of server mq_cluster\), could not connect: nothing was done.*HINT:  Queues and partitions on the other nodes work on/s,
	'a send to a queue of the stopped node fails clearly');
like(px_error(qq{SELECT * FROM mq.read('$q1', 1, wait => '1 s')}), $down, 'and a read');
like(px_error(qq{SELECT mq.ack('$q1', 1)}), $down, 'and an ack');
like(px_error(qq{SELECT mq.create_queue('$new1')}), qr/${down}mq.create_queue\(\) on queue "$new1"/,
	'create_queue of a name on the stopped node');
like(px_error(qq{SELECT mq.bind('events', '$q1', 'x')}), qr/${down}mq.bind\(\) on queue "$q1"/, 'bind');
like(px_error(qq{SELECT * FROM mq.metrics('$q1')}), qr/${down}mq.metrics\(\) on queue "$q1"/, 'metrics');
foreach my $call (q{SELECT mq.create_exchange('x1', 'fanout')}, q{SELECT mq.bind_exchange('events', 'ex2', 'k')},
	q{SELECT mq.publish('events', 'order.x', '{}')}, q{SELECT mq.create_stream('s9', 2)},
	q{SELECT mq.create_consumer_group('gs', 'g9')}, q{SELECT * FROM mq.poll('gs', 'workers', 'm9')},
	q{SELECT mq.grant('gs', 'alice', 'read')}, q{SELECT * FROM mq.maintain()})
{
	my ($f) = $call =~ /(mq\.\w+)\(/;
	like(px_error($call),
		qr/${down}\Q$f\E\(\) runs on every node and could not connect to node 1 \(option p1 of server mq_cluster\): nothing was done there, the other nodes may have done their part.*HINT:  Repeat the call once the node is back/s,
		"$f names the stopped node");
}
foreach my $call (q{SELECT * FROM mq.append('gs', '{}', key => 'key-1')}, q{SELECT * FROM mq.read_stream('gs', 5, 0)},
	q{SELECT mq.stream_end('gs', 5)}, q{SELECT mq.commit('gs', 'workers', 'm1', 5, 1)},
	q{SELECT * FROM mq.metrics_all()})
{
	my ($f) = $call =~ /(mq\.\w+)\(/;
	like(px_error($call), qr/${down}\Q$f\E\(\) could not connect to node 1 \(option p1 of server mq_cluster\): nothing was done/,
		"$f names the stopped node");
}
foreach my $view (qw(queues bindings privileges consumer_groups))
{
	like(px_error(qq{SELECT * FROM mq.$view}),
		qr/${down}the view mq.$view could not connect to node 1 \(option p1 of server mq_cluster\)/,
		"the view mq.$view names the stopped node");
}
is(px(q{SELECT count(*) > 0 FROM mq.exchanges}), 't', 'mq.exchanges (node 0\'s) works on');
ok(px(qq{SELECT mq.send('$q0', '{"alive": 1}')}) > 0, 'a queue of the other node takes sends');
is(px(qq{SELECT body->>'alive' FROM mq.pop('$q0')}), '1', 'and reads');
$nodes[1]->start;
px(qq{ALTER SERVER mq_cluster OPTIONS (SET p1 '$p1')});
is(px(qq{SELECT mq.send('$q1', '{}') > 0}), 't', 'the node back, its queues work again');
# what the calls above did on node 0 alone: repeated (a no-op where done), then undone
px(q{SELECT mq.create_exchange('x1', 'fanout'); SELECT mq.drop_exchange('x1'); SELECT mq.drop_exchange('ex2');
	SELECT mq.create_stream('s9', 2); SELECT mq.drop_stream('s9');
	SELECT mq.create_consumer_group('gs', 'g9'); SELECT mq.drop_consumer_group('gs', 'g9');
	SELECT mq.grant('gs', 'alice', 'read'); SELECT mq.revoke('gs', 'alice', 'read')});

# --- growing from 2 nodes to 4 (scripts/cluster_grow.sh) ---
my @new;
foreach my $i (2, 3)
{
	my $n = PostgreSQL::Test::Cluster->new("node$i");
	$n->init;
	$n->append_conf('postgresql.conf', "shared_preload_libraries = 'mq'\nmq.maintenance_interval = 0\n");
	$n->start;
	$n->safe_psql('postgres', 'CREATE EXTENSION mq');
	push @new, $n;
}
my ($p2, $p3) = map { $_->connstr('postgres') =~ s/'//gr } @new;
my $grow = "$ENV{TESTDIR}/scripts/cluster_grow.sh";
sub grow
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'bash', $grow, @_ ], '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}
px(q{SELECT mq.create_stream('odd', 2)});
my ($rc, $gout, $gerr) = grow('--wait', '30', $p0, $p1, '--', $p2, $p3);
is($rc, 1, 'cluster_grow.sh refuses a stream that cannot spread over 4 nodes');
like($gerr, qr/stream odd has 2 partitions, 1 a node: over 4 nodes it needs a multiple of 4/, 'and says why');
px(q{SELECT mq.drop_stream('odd')});
($rc, $gout, $gerr) = grow($p0, $p1, '--', $p2);
is($rc, 2, 'and needs as many new nodes as old');

# a stream of 8 partitions that grows with the cluster: records of every
# kind, gaps of appends rolled back on the nodes (one at the start of a
# partition, one at the end),
# a group committed mid-way, a group at 'latest', a grant and a binding
px(q{SELECT mq.create_stream('gr', 8, retention => '30 days')});
# the first key of the batch below on node 0: the first record of its partition
my $gapkey = px(q{SELECT 'r' || i FROM generate_series(1, 200) i WHERE mq.stream_partition('r' || i, 8) < 4
	ORDER BY i LIMIT 1});
on(0, qq{BEGIN; SELECT mq.append('gr', '{"gap": true}', key => '$gapkey'); ROLLBACK;});
px(q{SELECT count(*) FROM mq.append_batch('gr', ARRAY(SELECT jsonb_build_object('i', i) FROM generate_series(1, 200) i),
		keys => ARRAY(SELECT 'r' || i FROM generate_series(1, 200) i),
		headers => ARRAY(SELECT jsonb_build_object('h', i) FROM generate_series(1, 200) i));
	SELECT mq.append('gr', payload => '\x0102', content_type => 'application/x-test', key => 'r7',
		correlation_id => 'c7', reply_to => 'back');
	SELECT mq.create_consumer_group('gr', 'gg', 'earliest');
	SELECT mq.create_consumer_group('gr', 'gl', 'latest');
	SELECT mq.grant('gr', 'alice', 'read');
	SELECT mq.bind('events', 'gr', 'rec.*');
	CREATE TABLE got AS SELECT partition, position FROM mq.poll('gr', 'gg', 'm1', 1000);
	SELECT count(*) FROM (SELECT mq.commit('gr', 'gg', 'm1', partition, (max(position) + 1) / 2)
		FROM got GROUP BY partition) c;});
on(1, q{BEGIN; SELECT mq.append('gr', '{"gap": true}', key => 'r1'); ROLLBACK;});
my $records_sql = q{SELECT string_agg(concat_ws(':', r.partition, r.position, r.key, r.headers, r.body,
		r.appended_at, encode(r.payload, 'hex'), r.content_type, r.correlation_id, r.reply_to, r.sent_by), ','
		ORDER BY r.partition, r.position)
	FROM generate_series(0, 7) p, LATERAL mq.read_stream('gr', p, 0, 1000) r};
my $ends_sql = q{SELECT string_agg(mq.stream_end('gr', p)::text, ',' ORDER BY p) FROM generate_series(0, 7) p};
my $groups_sql = q{SELECT string_agg(consumer_group || ':' || partition || ':' || committed_position, ','
	ORDER BY consumer_group, partition) FROM mq.consumer_groups WHERE stream = 'gr'};
# what group gg has still to read: every record from its committed positions
my $rest_sql = q{SELECT string_agg(r.partition || ':' || r.position, ',' ORDER BY r.partition, r.position)
	FROM mq.consumer_groups c, LATERAL mq.read_stream('gr', c.partition, c.committed_position, 1000) r
	WHERE c.stream = 'gr' AND c.consumer_group = 'gg'};
my ($records, $ends, $groups, $rest) = map { px($_) } $records_sql, $ends_sql, $groups_sql, $rest_sql;
like($groups, qr/gg:0:[1-9]/, 'group gg committed mid-way');
like($records, qr/(^|,)\d:1:$gapkey:/, 'a partition starts at position 1 (an append rolled back)');
isnt($ends, px(q{SELECT string_agg((SELECT coalesce(max(r.position) + 1, 0) FROM mq.read_stream('gr', p, 0, 1000) r)::text,
		',' ORDER BY p) FROM generate_series(0, 7) p}), 'a partition ends past its last record (a rolled-back append)');
px(q{DROP TABLE got});
($rc, $gout, $gerr) = grow($p0, $p1, '--', $p2, $p3);
is($rc, 1, 'cluster_grow.sh refuses a stream granted to a role the new nodes lack');
like($gerr, qr/role alice \(owner or grantee of stream gr\) does not exist on new node 2: create it there first/,
	'and names it');
$_->safe_psql('postgres', 'CREATE ROLE alice LOGIN') for @new;
$new[0]->safe_psql('postgres', q{SELECT mq.create_stream('gr', 3)});
($rc, $gout, $gerr) = grow($p0, $p1, '--', $p2, $p3);
is($rc, 1, 'cluster_grow.sh refuses a stream that a new node has already, with other partitions');
like($gerr, qr/stream gr exists on new node 2 with 3 partitions and on node 0 with 4: drop it on the new nodes first/,
	'and says so');
$new[0]->safe_psql('postgres', q{SELECT mq.drop_stream('gr')});
($rc, $gout, $gerr) = grow($p0, $p1, '--', $p2, $p3);
is($rc, 1, 'cluster_grow.sh refuses to split a queue from its dead-letter queue');
like($gerr, qr/these would land on different nodes: $qa and its dead-letter queue $qc/, 'and names them');
px(qq{SELECT mq.alter_queue('$qa', dead_letter_queue => '')});
px("SELECT mq.purge_queue('$_')") for @queues;
# three messages a queue (a body, a payload, one with keys), a delayed one
# and one in flight on the way
px(qq{SELECT mq.send('$_', jsonb_build_object('q', '$_', 'n', 1));
	SELECT mq.send('$_', payload => convert_to('$_', 'UTF8'), content_type => 'text/plain');
	SELECT mq.send('$_', jsonb_build_object('q', '$_', 'n', 3), dedup_key => 'd-$_', group_key => 'g',
				   headers => '{"h": 1}', priority => 5)}) for @queues;
my @moving = grep { px("SELECT (mq.cluster_hash('$_') & 3) > 1") eq 't' } @queues;
ok(@moving >= 2, 'some queues move (' . join(' ', @moving) . ')');
px(qq{SELECT mq.send('$moving[0]', '{"delayed": true}', delay => '10 seconds')});
px(qq{SELECT msg_id FROM mq.read('$moving[1]', 1, visibility_timeout => '10 seconds')});
my $before = px(q{SELECT string_agg(queue_name || '=' || queue_length, ',' ORDER BY queue_name) FROM mq.metrics_all()});
($rc, $gout, $gerr) = grow('--dry-run', $p0, $p1, '--', $p2, $p3);
is($rc, 0, '--dry-run');
my $nmoving = px(q{SELECT count(*) FROM mq.queues WHERE (mq.cluster_hash(queue_name) & 3) > 1});
like($gout, qr/growing from 2 to 4 nodes: $nmoving queues move/, 'prints the plan');
is(px(q{SELECT count(*) FROM mq.queues}), scalar(@queues) + 1, 'and moves nothing');
is(px(qq{SELECT string_agg((queue_length - visible)::text, ',' ORDER BY queue_name) FROM mq.metrics_all()
		WHERE queue_name IN ('$moving[0]', '$moving[1]')}), '1,1', 'a delayed and an in-flight message wait to move');
# a first run stopped part way: node 0 cannot make stream gr again (a
# session holds the lock of its name there), the other nodes have
{
	my $holder = $nodes[0]->background_psql('postgres');
	$holder->query_safe(q{BEGIN; SELECT mq._lock_name('queue', 'gr')});
	local $ENV{PGOPTIONS} = ($ENV{PGOPTIONS} // '') . ' -c lock_timeout=2s';
	($rc, $gout, $gerr) = grow('--wait', '60', $p0, $p1, '--', $p2, $p3);
	$holder->query_safe('ROLLBACK');
	$holder->quit;
}
isnt($rc, 0, 'a run stopped while stream gr is made again on node 0');
like($gerr, qr/lock timeout/, 'by the lock held there');
is(join(',', map { $_->safe_psql('postgres', q{SELECT partitions FROM mq.streams WHERE stream = 'gr'}) } @nodes, @new),
	'4,2,2,2', 'nodes 3, 2 and 1 have the stream made again, node 0 not yet');
($rc, $gout, $gerr) = grow('--wait', '60', $p0, $p1, '--', $p2, $p3);
is($rc, 0, 'cluster_grow.sh run again goes on from there') or diag "$gout\n$gerr";
like($gout, qr/stream gr: spread over 4 nodes/, 'stream gr made again on node 0 from its staging');
like($gout, qr/stream gs: 2000 records staged/, 'and stream gs moved');
like($gout, qr/ALTER SERVER mq_cluster OPTIONS \(ADD p2 '[^']+', ADD p3 '[^']+'\);/, 'and prints the ALTER SERVER');
px(qq{ALTER SERVER mq_cluster OPTIONS (ADD p2 '$p2', ADD p3 '$p3')});
is(px(q{SELECT mq.cluster_size()}), '4', 'the cluster has 4 nodes');
is(px(q{SELECT count(*) || ':' || count(*) FILTER (WHERE node = mq.cluster_node(queue_name)) || ':'
		|| count(DISTINCT node) FROM mq.queues}), (@queues + 1) . ':' . (@queues + 1) . ':4',
	'every queue is on its node of 4');
is(px(q{SELECT string_agg(queue_name || '=' || queue_length, ',' ORDER BY queue_name) FROM mq.metrics_all()}),
	$before, 'with all its messages, the delayed and the in-flight one too');
is(px(qq{SELECT string_agg(coalesce(body->>'n', convert_from(payload, 'UTF8') || ':' || content_type)
		|| ':' || coalesce(dedup_key, '-') || ':' || coalesce(group_key, '-') || ':' || priority
		|| ':' || coalesce(headers->>'h', '-'), ',' ORDER BY body->>'n' NULLS FIRST)
		FROM mq.read('$moving[2]', 10)}),
	"$moving[2]:text/plain:-:-:0:-,1:-:-:0:-,3:d-$moving[2]:g:5:1", 'messages keep their properties')
	if @moving > 2;
is(px(q{SELECT mq.publish('events', 'order.new', '{}')}), '15', 'bindings moved with their queues');
is(px(q{SELECT count(*) FROM mq.exchanges}), '1', 'exchanges exist on the new nodes');
is($new[0]->safe_psql('postgres', q{SELECT count(*) FROM mq.exchanges}), '1', 'node 2 has them');

# the stream: every record at its partition and position, the groups where they were
is(px(q{SELECT partitions FROM mq.streams WHERE stream = 'gr'}), '8', 'stream gr has 8 partitions');
is(join(',', map { $_->safe_psql('postgres', q{SELECT partitions FROM mq.streams WHERE stream = 'gr'}) } @nodes, @new),
	'2,2,2,2', 'now 2 on each of the 4 nodes');
is(px($records_sql), $records, 'every record of the stream at its partition and position, as it was');
is(px($ends_sql), $ends, 'every partition ends where it did (past a rolled-back append too)');
is(px($groups_sql), $groups, 'the groups\' committed positions are kept');
is(px(q{SELECT sum(committed_position) || ':' || sum(end_position) FROM mq.consumer_groups WHERE stream = 'gs'}),
	'2000:2000', 'stream gs grew too, its group at the end');
px(q{SELECT mq.create_consumer_group('gr', 'gg', 'earliest'), mq.create_consumer_group('gr', 'gl', 'latest')});
px(q{CREATE TABLE resumed AS SELECT partition, position FROM mq.poll('gr', 'gg', 'm1', 1000)});
is(px(q{SELECT string_agg(partition || ':' || position, ',' ORDER BY partition, position) FROM resumed}), $rest,
	'group gg resumes exactly where it committed: nothing lost, nothing again');
is(px(q{SELECT count(*) FROM mq.poll('gr', 'gl', 'm1', 1000)}), '0', 'group gl is still at the end');
is(px(q{SELECT count(*) FROM (SELECT mq.commit('gr', 'gg', 'm1', partition, max(position) + 1)
		FROM resumed GROUP BY partition) c}), px(q{SELECT count(DISTINCT partition) FROM resumed}),
	'and commits on the new nodes');
my %end_before = map { split /:/ } split /,/,
	px(q{SELECT string_agg(p || ':' || mq.stream_end('gr', p), ',') FROM generate_series(0, 7) p});
my @appended = map { [ split /\|/ ] } split /\n/, px(q{SELECT k, mq.stream_partition(k, 8), (a).partition, (a).position
	FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) WITH ORDINALITY u(k, o),
	LATERAL mq.append('gr', jsonb_build_object('k', k), key => k) a ORDER BY o});
my %next = %end_before;
my $placed = grep { $_->[1] == $_->[2] && $_->[3] == $next{ $_->[2] }++ } @appended;
is($placed, 8, 'appends by key after the grow land where mq.stream_partition says, at the next position');
is(px(q{SELECT string_agg(r.key, ',' ORDER BY r.key) FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) k,
		LATERAL mq.read_stream('gr', mq.stream_partition(k, 8), 0, 1000) r WHERE r.key = k}), 'a,b,c,d,e,f,g,h',
	'and are read there');
is(px(q{SELECT count(*) FROM mq.privileges WHERE object_name = 'gr' AND grantee = 'alice'}), '4',
	'the grant on the stream is on every node');
is(px(q{SELECT mq.publish('events', 'rec.1', '{"via": "exchange"}')}), '1', 'the binding to the stream moved');

$_->stop for @new;
$proxy->stop;
$_->stop for @nodes;
done_testing();
