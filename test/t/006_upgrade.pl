# ALTER EXTENSION mq UPDATE from every released version (0.1.0 ... 0.7.0):
# each database keeps its queues, streams and messages, and ends with what a
# new installation of the default version has -- every function (body line
# by line, arguments, defaults, properties, grants), table, column, index,
# constraint, trigger, view, sequence, type, comment, extension member and
# dump registration, the catalog rows of the queues, exchanges and streams
# made before the update (made again in a new installation), and the tables
# of those queues and streams.  Before the update the new library serves the
# old SQL.
#
# The new installation runs one script (sql/mq--<version>.sql, built from
# sql/src/); an update runs the released scripts and then the built update
# script (sql/updates/ + sql/src/).  A difference means that a delta or a
# source file forgot something: the test prints the lines that differ, "-"
# for the new installation's and "+" for the updated database's.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.maintenance_interval = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE ROLE regress_worker; CREATE ROLE regress_upgrade');

my $latest = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'mq'");
my @released = split /\n/, $node->safe_psql('postgres', qq{
	SELECT version FROM pg_available_extension_versions
	WHERE name = 'mq' AND version <> '$latest'
	ORDER BY string_to_array(version, '.')::int[]});
is(join(' ', @released[0 .. 6]), '0.1.0 0.2.0 0.3.0 0.4.0 0.5.0 0.6.0 0.7.0',
	"every released version is available besides $latest");
my $sharedir = $node->config_data('--sharedir');
ok(-f "$sharedir/extension/mq--$latest.sql",
	"$latest has an install script of its own: CREATE EXTENSION runs one script, not the chain");

# The extension's own objects, one line each (a function's body and a view's
# definition a line per line, counted, and a checksum of the whole); the
# per-queue and per-stream tables are not members and are compared apart.
my $objects = q{
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'mq'),
rel AS (
	SELECT c.oid, c.relname, c.relkind FROM pg_class c
	WHERE c.relnamespace = 'mq'::regnamespace AND c.relname !~ '^[qads]_[0-9]+'),
fn AS (SELECT p.* FROM pg_proc p WHERE p.pronamespace = 'mq'::regnamespace),
lines(line) AS (
	SELECT format('function %s: kind %s, language %s, returns %s, volatility %s, strict %s, '
				  'security definer %s, leakproof %s, parallel %s, cost %s, rows %s, config %s, '
				  'library %s, source md5 %s',
				  p.oid::regprocedure, p.prokind, l.lanname, pg_get_function_result(p.oid),
				  p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof, p.proparallel,
				  p.procost, p.prorows, p.proconfig, p.probin, md5(p.prosrc))
	FROM fn p JOIN pg_language l ON l.oid = p.prolang
	UNION ALL
	SELECT format('function %s: arguments %s', p.oid::regprocedure, pg_get_function_arguments(p.oid))
	FROM fn p
	UNION ALL
	SELECT format('function %s: source: %s', p.oid::regprocedure, s.line)
	FROM fn p, regexp_split_to_table(p.prosrc, E'\n') s(line)
	UNION ALL
	SELECT format('function %s: acl %s', p.oid::regprocedure, p.proacl) FROM fn p
	UNION ALL
	SELECT format('relation %s: kind %s, persistence %s, options %s, acl %s, owner %s, definition md5 %s',
				  c.relname, c.relkind, c.relpersistence, c.reloptions, c.relacl,
				  c.relowner::regrole, md5(pg_get_viewdef(c.oid)))
	FROM pg_class c JOIN rel USING (oid)
	UNION ALL
	SELECT format('view %s: %s', rel.relname, s.line)
	FROM rel, regexp_split_to_table(pg_get_viewdef(rel.oid), E'\n') s(line)
	WHERE rel.relkind = 'v'
	UNION ALL
	SELECT format('column %s.%s: number %s, type %s, not null %s, default %s, collation %s, '
				  'identity %s, generated %s, acl %s',
				  rel.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod),
				  a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attcollation::regcollation,
				  a.attidentity, a.attgenerated, a.attacl)
	FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	UNION ALL
	SELECT format('index %s', pg_get_indexdef(i.indexrelid))
	FROM pg_index i JOIN rel ON rel.oid = i.indrelid
	UNION ALL
	SELECT format('constraint %s.%s: %s', rel.relname, c.conname, pg_get_constraintdef(c.oid))
	FROM pg_constraint c JOIN rel ON rel.oid = c.conrelid
	UNION ALL
	SELECT format('trigger %s', pg_get_triggerdef(t.oid))
	FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid
	WHERE NOT t.tgisinternal
	UNION ALL
	SELECT format('sequence %s: type %s, start %s, increment %s, min %s, max %s, cache %s, '
				  'cycle %s, owned by %s',
				  rel.relname, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin,
				  s.seqmax, s.seqcache, s.seqcycle,
				  (SELECT pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
				   FROM pg_depend d
				   WHERE d.classid = 'pg_class'::regclass AND d.objid = rel.oid AND d.deptype = 'a'))
	FROM rel JOIN pg_sequence s ON s.seqrelid = rel.oid
	UNION ALL
	SELECT format('type %s: type %s, category %s, acl %s', t.oid::regtype, t.typtype,
				  t.typcategory, t.typacl)
	FROM pg_type t
	WHERE t.typnamespace = 'mq'::regnamespace AND t.typname !~ '^_?[qads]_[0-9]+'
	UNION ALL
	SELECT format('type %s: attribute %s %s %s', t.oid::regtype, a.attnum, a.attname,
				  format_type(a.atttypid, a.atttypmod))
	FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	WHERE t.typnamespace = 'mq'::regnamespace
	UNION ALL
	SELECT format('schema %s: owner %s, acl %s', n.nspname, n.nspowner::regrole, n.nspacl)
	FROM pg_namespace n WHERE n.nspname = 'mq'
	UNION ALL
	SELECT format('comment on %s: %s',
				  (pg_identify_object(d.classoid, d.objoid, d.objsubid)).identity, d.description)
	FROM pg_description d
	WHERE (pg_identify_object(d.classoid, d.objoid, d.objsubid)).schema = 'mq'
	   OR (d.classoid = 'pg_namespace'::regclass AND d.objoid = 'mq'::regnamespace)
	   OR (d.classoid = 'pg_extension'::regclass AND d.objoid = (SELECT oid FROM ext))
	UNION ALL
	SELECT format('initial privileges of %s: %s',
				  pg_describe_object(i.classoid, i.objoid, i.objsubid), i.initprivs)
	FROM pg_init_privs i
	WHERE (pg_identify_object(i.classoid, i.objoid, i.objsubid)).schema = 'mq'
	   OR (i.classoid = 'pg_namespace'::regclass AND i.objoid = 'mq'::regnamespace)
	UNION ALL
	SELECT format('member %s', pg_describe_object(d.classid, d.objid, d.objsubid))
	FROM pg_depend d
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = (SELECT oid FROM ext)
	  AND d.deptype = 'e'
	UNION ALL
	SELECT format('dumped %s where %L', c.cfg::regclass, c.cond)
	FROM pg_extension e, unnest(e.extconfig, e.extcondition) c(cfg, cond)
	WHERE e.extname = 'mq'
)
SELECT line FROM lines ORDER BY line COLLATE "C"};

# The rows of the catalog, ids replaced by names and without the times of
# creation (new columns of a later version come along in to_jsonb).
# mq._stream_end is left out: the worker writes it on its own clock.
my $rows = q{
WITH lines(line) AS (
	SELECT format('queue %s', to_jsonb(q) - 'queue_id' - 'created_at'
		|| jsonb_build_object('dead_letter_queue_id', d.queue_name, 'owner', q.owner::regrole))
	FROM mq._queue q LEFT JOIN mq._queue d ON d.queue_id = q.dead_letter_queue_id
	UNION ALL
	SELECT format('queue stats %s', to_jsonb(s) || jsonb_build_object('queue_id', q.queue_name))
	FROM mq._queue_stats s JOIN mq._queue q USING (queue_id)
	UNION ALL
	SELECT format('exchange %s', to_jsonb(e) - 'exchange_id' - 'created_at'
		|| jsonb_build_object('alternate_exchange_id', a.exchange_name, 'owner', e.owner::regrole))
	FROM mq._exchange e LEFT JOIN mq._exchange a ON a.exchange_id = e.alternate_exchange_id
	UNION ALL
	SELECT format('exchange stats %s', to_jsonb(s) || jsonb_build_object('exchange_id', e.exchange_name))
	FROM mq._exchange_stats s JOIN mq._exchange e USING (exchange_id)
	UNION ALL
	SELECT format('binding %s', to_jsonb(b) || jsonb_build_object('source_id', s.exchange_name,
		'queue_id', q.queue_name, 'exchange_id', x.exchange_name, 'stream_id', t.stream_name))
	FROM mq._binding b JOIN mq._exchange s ON s.exchange_id = b.source_id
		LEFT JOIN mq._queue q ON q.queue_id = b.queue_id
		LEFT JOIN mq._exchange x ON x.exchange_id = b.exchange_id
		LEFT JOIN mq._stream t ON t.stream_id = b.stream_id
	UNION ALL
	SELECT format('privilege %s', to_jsonb(p) || jsonb_build_object(
		'object_id', coalesce(q.queue_name, x.exchange_name, t.stream_name),
		'grantee', CASE WHEN p.grantee = 0 THEN 'public' ELSE p.grantee::regrole::text END))
	FROM mq._privilege p
		LEFT JOIN mq._queue q ON p.object_type = 'queue' AND q.queue_id = p.object_id
		LEFT JOIN mq._exchange x ON p.object_type = 'exchange' AND x.exchange_id = p.object_id
		LEFT JOIN mq._stream t ON p.object_type = 'stream' AND t.stream_id = p.object_id
	UNION ALL
	SELECT format('stream %s', to_jsonb(s) - 'stream_id' - 'created_at'
		|| jsonb_build_object('owner', s.owner::regrole))
	FROM mq._stream s
	UNION ALL
	SELECT format('segment %s', to_jsonb(g) - 'opened_at' || jsonb_build_object('stream_id', s.stream_name))
	FROM mq._stream_segment g JOIN mq._stream s USING (stream_id)
	UNION ALL
	SELECT format('consumer group %s', to_jsonb(g) - 'group_id' - 'created_at'
		|| jsonb_build_object('stream_id', s.stream_name))
	FROM mq._stream_group g JOIN mq._stream s USING (stream_id)
	UNION ALL
	SELECT format('commit %s', to_jsonb(c) - 'committed_at'
		|| jsonb_build_object('group_id', s.stream_name || '/' || g.group_name))
	FROM mq._stream_commit c JOIN mq._stream_group g USING (group_id)
		JOIN mq._stream s ON s.stream_id = g.stream_id
)
SELECT line FROM lines ORDER BY line COLLATE "C"};

# The tables of queues and streams (not members of the extension), named by
# their queue or stream instead of its id.
my $tables = q{
WITH owner(relid, prefix, id) AS (
	SELECT c.oid, m[1], m[2]::int
	FROM pg_class c, regexp_match(c.relname, '^([qads])_([0-9]+)(_[0-9]+)?$') m
	WHERE c.relnamespace = 'mq'::regnamespace AND c.relkind = 'r'),
named AS (
	SELECT o.*, CASE WHEN o.prefix = 's'
					 THEN (SELECT s.stream_name FROM mq._stream s WHERE s.stream_id = o.id)
					 ELSE (SELECT q.queue_name FROM mq._queue q WHERE q.queue_id = o.id) END AS name
	FROM owner o),
lines(relid, line) AS (
	SELECT c.oid, format('table %s: persistence %s, options %s, acl %s', c.relname,
						 c.relpersistence, c.reloptions, c.relacl)
	FROM pg_class c JOIN named n ON n.relid = c.oid
	UNION ALL
	SELECT a.attrelid, format('column %s.%s: number %s, type %s, not null %s, default %s, identity %s',
							  a.attrelid::regclass, a.attname, a.attnum,
							  format_type(a.atttypid, a.atttypmod), a.attnotnull,
							  pg_get_expr(d.adbin, d.adrelid), a.attidentity)
	FROM pg_attribute a JOIN named n ON n.relid = a.attrelid
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	WHERE a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT i.indrelid, format('index %s', pg_get_indexdef(i.indexrelid))
	FROM pg_index i JOIN named n ON n.relid = i.indrelid
	UNION ALL
	SELECT c.conrelid, format('constraint %s.%s: %s', c.conrelid::regclass, c.conname,
							  pg_get_constraintdef(c.oid))
	FROM pg_constraint c JOIN named n ON n.relid = c.conrelid
	UNION ALL
	SELECT t.tgrelid, format('trigger %s', pg_get_triggerdef(t.oid))
	FROM pg_trigger t JOIN named n ON n.relid = t.tgrelid
	WHERE NOT t.tgisinternal
)
SELECT t.line FROM (
	SELECT regexp_replace(l.line, '(^|[^a-z_0-9])' || n.prefix || '_' || n.id || '(?![0-9])',
						  '\1' || n.prefix || '_<' || n.name || '>', 'g') AS line
	FROM lines l JOIN named n ON n.relid = l.relid) t
ORDER BY t.line COLLATE "C"};

# compare versions a.b.c as numbers (<=>)
sub vcmp
{
	my @a = split /\./, shift;
	my @b = split /\./, shift;
	return ($a[0] <=> $b[0]) || ($a[1] <=> $b[1]) || ($a[2] <=> $b[2]);
}

# the lines in one text and not in the other: "- " the new installation's,
# "+ " the updated database's (empty when they agree)
sub differences
{
	my ($new, $updated) = @_;
	my %count;
	$count{$_}-- for split /\n/, $new;
	$count{$_}++ for split /\n/, $updated;
	return join "\n",
	  map { ($count{$_} < 0 ? '- ' : '+ ') . $_ } grep { $count{$_} } sort keys %count;
}

# Objects made in a released version before its update, and made again in a
# new installation: SQL that every version from the key on takes.
my %objects_from = (
	'0.1.0' => q{
		SELECT mq.create_queue('cmp_dlq');
		SELECT mq.create_queue('cmp_all', visibility_timeout => '45 seconds', max_receives => 3,
							   dead_letter_queue => 'cmp_dlq', message_ttl => '1 day',
							   max_length => 1000, overflow => 'drop_head',
							   dedup_window => '10 minutes', archive => true,
							   retention => '7 days', notify => true);
		SELECT mq.create_queue('cmp_fifo', fifo => true, unlogged => true);
		SELECT mq.alter_queue('cmp_fifo', max_length => 5);
		SELECT mq.create_exchange('cmp_direct');
		SELECT mq.create_exchange('cmp_topic', 'topic', alternate_exchange => 'cmp_direct');
		SELECT mq.create_exchange('cmp_headers', 'headers');
		SELECT mq.bind('cmp_direct', 'cmp_all', 'k');
		SELECT mq.bind('cmp_topic', 'cmp_fifo', 'a.*.c');
		SELECT mq.bind_exchange('cmp_topic', 'cmp_headers', '#');
		SELECT mq.bind('cmp_headers', 'cmp_dlq', '', '{"x-match": "any", "format": "pdf"}');
		SELECT mq.grant('cmp_all', 'regress_upgrade', 'send');
		SELECT mq.grant('cmp_fifo', 'public', 'read');
		SELECT mq.grant_exchange('cmp_topic', 'regress_upgrade', 'publish');
		SELECT mq.publish('cmp_direct', 'nobody', '{}');
		SELECT mq.send('cmp_all', '{"n": 1}');
	},
	'0.4.0' => q{
		SELECT mq.create_queue('cmp_fair', fair => true, group_concurrency => 2, rate_limit => 100,
							   rate_interval => '2 seconds', group_rate_limit => 10);
		SELECT mq.create_stream('cmp_log', partitions => 3, retention => '1 day',
								retention_bytes => 1000000);
		SELECT mq.create_stream('cmp_unlogged', unlogged => true);
		SELECT count(*) FROM mq.append_batch('cmp_log', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[],
											 keys => ARRAY['a', 'b']);
	},
	'0.5.0' => q{
		SELECT mq.create_consumer_group('cmp_log', 'cmp_group', 'earliest');
		SELECT mq.seek('cmp_log', 'cmp_group', mq.stream_partition('a', 3), 1);
		SELECT mq.grant('cmp_log', 'regress_upgrade', 'read');
		SELECT mq.bind('cmp_direct', 'cmp_log', 'to_stream');
	});

# Each version's own story, run in the old database (the "setup" also in the
# new installation): what its SQL does on the new library before the update,
# and what the update must keep and make work.
my %setup;
my %before;
my %after;

# 0.1.0: the redrive of the updated extension
$setup{'0.1.0'} = q{
	SELECT mq.create_queue('dlq');
	SELECT mq.create_queue('orders', max_receives => 1, dead_letter_queue => 'dlq');
	SELECT mq.send('orders', '{"n": 1}');
	SELECT mq.send('orders', '{"n": 2}');
	SELECT count(*) FROM mq.read('orders', 1, '1 millisecond');
	SELECT pg_sleep(0.01);
};
$after{'0.1.0'} = sub {
	my $db = shift;
	is($node->safe_psql($db, q{SELECT body->>'n' FROM mq.read('orders', 1)}), '2',
		'a message sent before the update is read after it (the other went to dlq)');
	is($node->safe_psql($db, q{SELECT mq.redrive('dlq', 'orders')}), '1',
		'mq.redrive() of the updated extension');
	is($node->safe_psql($db, q{SELECT body->>'n' FROM mq.read('orders', 1)}), '1',
		'the redriven message is read');
	is($node->safe_psql($db, q{SELECT has_function_privilege('public', 'mq._announce(text)', 'execute')}),
		'f', 'mq._announce() is not open to PUBLIC');
};

# 0.2.0: publish's options moved, ack's array form became ack_batch, bind
# returns bool
$setup{'0.2.0'} = q{
	SELECT mq.create_queue('jobs', archive => true);
	SELECT mq.create_exchange('ex', 'fanout');
	SELECT mq.bind('ex', 'jobs');
	SELECT mq.grant('jobs', 'regress_worker', 'read');
	SELECT mq.send('jobs', '{"n": 1}');
};
$before{'0.2.0'} = sub {
	my $db = shift;
	# 0.2.0's SQL on the new library: publish(exchange, key, body, headers, mandatory, delay, priority, ...)
	is($node->safe_psql($db, q{SELECT mq.publish('ex', 'k', '{"n": 2}', NULL, true, '0', 5)}), '1',
		'0.2.0 publish with positional options works on the new library');
	is($node->safe_psql($db, q{SELECT priority FROM mq.read('jobs', 10) WHERE body->>'n' = '2'}), '5',
		'... and reads its options from their 0.2.0 places');
	is($node->safe_psql($db,
			q{SELECT count(*) FROM mq.publish_batch('ex', ARRAY['k'], ARRAY['{"n": 3}'::jsonb], NULL, true)}),
		'1', '0.2.0 publish_batch works on the new library');
	my ($ret, $stdout, $stderr) = $node->psql($db,
		q{PREPARE a(unknown, unknown) AS SELECT mq.ack($1, $2)});
	like($stderr, qr/is not unique/, '0.2.0: mq.ack with untyped parameters is ambiguous');
};
$after{'0.2.0'} = sub {
	my $db = shift;
	is($node->safe_psql($db, q{SELECT queue_length FROM mq.metrics('jobs')}), '3',
		'messages sent before the update are kept');
	is($node->safe_psql($db,
			q{SELECT grantee || ':' || privilege FROM mq.privileges WHERE object_name = 'jobs'}),
		'regress_worker:read', 'grants are kept');
	is($node->safe_psql($db,
			q{PREPARE a(unknown, unknown) AS SELECT mq.ack($1, $2); EXECUTE a('jobs', 1)}),
		't', 'mq.ack with untyped parameters resolves (one signature)');
	is($node->safe_psql($db, q{SELECT count(*) FROM mq.ack_batch('jobs', ARRAY[2, 3]::bigint[])}), '2',
		'mq.ack_batch replaces the array form');
	is($node->safe_psql($db, q{SELECT archive_length FROM mq.metrics('jobs')}), '3',
		'... and archives on an archive queue');
	is($node->safe_psql($db, q{SELECT mq.publish('ex', 'k', '{}', NULL, '0', NULL, NULL, 7, true)}), '1',
		'publish takes send\'s options in send\'s order, then mandatory');
	is($node->safe_psql($db, q{SELECT priority FROM mq.read('jobs')}), '7', '... in their new places');
	is($node->safe_psql($db, q{SELECT mq.bind('ex', 'jobs')}), 'f', 'bind says the binding was there');
};

# 0.3.0: five new queue options; existing queues have none of them and keep
# their messages, and 0.3.0's SQL reads on the new library
$setup{'0.3.0'} = q{
	SELECT mq.create_queue('tenants', visibility_timeout => '1 hour');
	SELECT count(*) FROM mq.send_batch('tenants', ARRAY['{}', '{}', '{}', '{}']::jsonb[],
									   group_keys => ARRAY['a', 'a', 'a', 'b']);
};
$before{'0.3.0'} = sub {
	my $db = shift;
	is($node->safe_psql($db,
			q{SELECT string_agg(group_key, ',' ORDER BY msg_id) FROM mq.read('tenants', 2)}),
		'a,a', '0.3.0 SQL on the new library reads in age order');
};
$after{'0.3.0'} = sub {
	my $db = shift;
	is($node->safe_psql($db, q{SELECT fair, group_concurrency, rate_limit, rate_interval
							   FROM mq.queues WHERE queue_name = 'tenants'}),
		'f|||00:00:01', 'an existing queue has none of the new options');
	$node->safe_psql($db, q{SELECT mq.alter_queue('tenants', fair => true, group_concurrency => 2)});
	is($node->safe_psql($db,
			q{SELECT string_agg(group_key, ',' ORDER BY msg_id) FROM mq.read('tenants', 10)}),
		'b', 'after the update an existing queue takes the new options (fair, a at its limit of 2)');
};

# 0.4.0: consumer groups; a stream made before the update keeps its records
# and positions, and a group on it reads them
$setup{'0.4.0'} = q{
	SELECT mq.create_stream('log', partitions => 2);
	SELECT count(*) FROM mq.append_batch('log', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[],
										 keys => ARRAY['a', 'b', 'a']);
};
$before{'0.4.0'} = sub {
	my $db = shift;
	is($node->safe_psql($db,
			q{SELECT count(*) FROM generate_series(0, 1) p, mq.read_stream('log', p, 0)}),
		'3', '0.4.0 SQL on the new library replays the stream');
};
$after{'0.4.0'} = sub {
	my $db = shift;
	$node->safe_psql($db, q{SELECT mq.create_consumer_group('log', 'g', 'earliest')});
	my $replayed = $node->safe_psql($db, q{SELECT string_agg(body->>'n', ',' ORDER BY partition, position)
		FROM generate_series(0, 1) p, mq.read_stream('log', p, 0)});
	is($node->safe_psql($db, q{SELECT string_agg(body->>'n', ',' ORDER BY partition, position)
		FROM mq.poll('log', 'g', 'c')}), $replayed,
		'a group on a stream from before the update reads its records');
	my $before = $node->safe_psql($db,
		q{SELECT count(*) FROM mq.read_stream('log', mq.stream_partition('b', 2), 0)});
	is($node->safe_psql($db, q{SELECT position FROM mq.append('log', '{"n": 4}', key => 'b')}), $before,
		'and positions go on after the update');
	is($node->safe_psql($db, q{SELECT string_agg(concat_ws('/', body->>'n', payload, content_type,
			content_encoding, correlation_id, reply_to, sent_by), ',' ORDER BY partition, position)
		FROM generate_series(0, 1) p, mq.read_stream('log', p, 0) WHERE body->>'n' <> '4'}),
		$replayed,
		'records from before the update read with NULL payloads and properties');
	my $payload = $node->safe_psql($db,
		q{SELECT position FROM mq.append('log', payload => '\x0001ff', key => 'b', correlation_id => 'c')});
	is($node->safe_psql($db, qq{SELECT concat_ws('/', payload, content_type, correlation_id, sent_by)
		FROM mq.read_stream('log', mq.stream_partition('b', 2), $payload)}),
		'\x0001ff/application/octet-stream/c/' . $node->safe_psql($db, 'SELECT current_user'),
		'and a segment from before the update takes payloads');
};

# 0.5.0: mq.compact_queue; a queue made before the update keeps its
# messages and leases through a compaction
$setup{'0.5.0'} = q{
	SELECT mq.create_queue('q5');
	SELECT count(*) FROM mq.send_batch('q5', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[]);
	SELECT count(*) FROM mq.read('q5', 1, '1 hour');
};
$after{'0.5.0'} = sub {
	my $db = shift;
	is($node->safe_psql($db, q{SELECT mq.compact_queue('q5')}), '3',
		'a queue from before the update is compacted');
	is($node->safe_psql($db, q{SELECT string_agg(body->>'n', ',') FROM mq.read('q5', 10)}), '2,3',
		'and keeps its messages and its lease');
};

# 0.6.0: a queue's table made before the update leaves half of each page it
# writes from then on free, as a new one does
my $q6 = q{SELECT c.reloptions FROM pg_class c, mq._queue q
	WHERE q.queue_name = 'q6' AND c.oid = ('mq.q_' || q.queue_id)::regclass};
$setup{'0.6.0'} = q{
	SELECT mq.create_queue('q6');
	SELECT count(*) FROM mq.send_batch('q6', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[]);
};
$before{'0.6.0'} = sub {
	is($node->safe_psql(shift, $q6), '{fillfactor=80}', 'a 0.6.0 queue table is filled to 80 %');
};
$after{'0.6.0'} = sub {
	my $db = shift;
	is($node->safe_psql($db, $q6), '{fillfactor=50}', 'and is filled to half after the update');
	is($node->safe_psql($db, q{SELECT string_agg(body->>'n', ',') FROM mq.read('q6', 10)}), '1,2',
		'and keeps its messages');
};

# 0.7.0: the first update that runs the definitions of sql/src/ over a
# database that already has them
$setup{'0.7.0'} = q{
	SELECT mq.create_queue('q7', fifo => true, archive => true);
	SELECT mq.send('q7', '{"n": 1}', group_key => 'g');
	SELECT mq.send('q7', '{"n": 2}', group_key => 'g');
	SELECT mq.send('q7', '{"n": 3}', group_key => 'h') AS m3 \\gset
	SELECT mq.archive('q7', :m3);
	-- read before the update too: the new library walks 0.7.0's tables
	SELECT mq.create_queue('q7f', fair => true, group_concurrency => 1);
	SELECT mq.send('q7f', '{"n": 1}', group_key => 'a');
	SELECT mq.send('q7f', '{"n": 2}', group_key => 'b');
	SELECT mq.send('q7f', '{"n": 3}', group_key => 'a');
	SELECT mq.ack('q7f', msg_id) FROM mq.read('q7f', 10) WHERE body->>'n' = '1';
};
$after{'0.7.0'} = sub {
	my $db = shift;
	is($node->safe_psql($db, q{SELECT concat_ws('/', body->>'n', payload, content_type, content_encoding,
		correlation_id, reply_to, expires_at, sent_by) FROM mq.read('q7')}), '1',
		'a FIFO queue from before the update is read, its messages with NULL payloads and properties');
	is($node->safe_psql($db, q{SELECT mq.send('q7', payload => '\x00ff', content_type => 'a/b',
		correlation_id => 'c', ttl => '1 hour', group_key => 'p') > 0}), 't',
		'and takes payloads and properties');
	is($node->safe_psql($db, q{SELECT concat_ws('/', payload, content_type, correlation_id,
		expires_at IS NOT NULL, sent_by = current_user) FROM mq.read('q7', 10) WHERE group_key = 'p'}),
		'\x00ff/a/b/c/t/t', '... which come back');
	my $q7 = $node->safe_psql($db, q{SELECT queue_id FROM mq._queue WHERE queue_name = 'q7'});
	is($node->safe_psql($db, qq{SELECT count(*) FROM mq.a_$q7 WHERE payload IS NULL AND sent_by IS NULL}), '1',
		'its archive kept the message archived before the update');
	is($node->safe_psql($db, q{SELECT count(*) FROM mq.read('q7', 10)}), '0',
		'the rest of the group waits behind its leased head');
	is($node->safe_psql($db, q{SELECT string_agg(concat_ws('/', body->>'n', payload), ',' ORDER BY msg_id)
		FROM mq.read('q7f', 10)}), '3',
		'a fair queue with group limits read before the update is read after it');
};

my $checked_kinds = 0;
foreach my $version (@released)
{
	(my $suffix = $version) =~ s/\./_/g;
	my ($old, $new) = ("from_$suffix", "new_$suffix");
	$node->safe_psql('postgres', "CREATE DATABASE $old; CREATE DATABASE $new");
	# (0.1.0 has an install script; a later released version is 0.1.0's, then the updates)
	$node->safe_psql($old, "CREATE EXTENSION mq VERSION '$version'");
	$node->safe_psql($new, 'CREATE EXTENSION mq');
	is($node->safe_psql($old, "SELECT extversion FROM pg_extension WHERE extname = 'mq'"),
		$version, "CREATE EXTENSION mq VERSION '$version' installs $version");
	is($node->safe_psql($new, "SELECT extversion FROM pg_extension WHERE extname = 'mq'"),
		$latest, "CREATE EXTENSION mq installs $latest");

	# the same objects, made by the old version and by the new one
	my $make = join '', map { $objects_from{$_} }
	  grep { vcmp($_, $version) <= 0 } sort { vcmp($a, $b) } keys %objects_from;
	$make .= $setup{$version} // '';
	$node->safe_psql($_, $make) for ($old, $new);
	$before{$version}->($old) if $before{$version};

	$node->safe_psql($old, 'ALTER EXTENSION mq UPDATE');
	is($node->safe_psql($old, "SELECT extversion FROM pg_extension WHERE extname = 'mq'"),
		$latest, "from $version the update reaches $latest");

	my $expected = $node->safe_psql($new, $objects);
	is(differences($expected, $node->safe_psql($old, $objects)), '',
		"from $version: the same functions, tables, views, types, grants, comments and members as a new installation");
	is(differences($node->safe_psql($new, $rows), $node->safe_psql($old, $rows)), '',
		"from $version: the same rows in the catalog as the same objects made in a new installation");

	# before 0.4.0 every queue had a (group_key, msg_id) index; a queue that
	# is not FIFO keeps it until its next alter_queue (0.3.0--0.4.0)
	my %not_fifo = map { $_ => 1 } split /\n/,
	  $node->safe_psql($new, 'SELECT queue_name FROM mq._queue WHERE NOT fifo');
	my $kept = $node->safe_psql($old, $tables);
	$kept = join "\n", grep { !(/^index CREATE INDEX q_<(.+)>_group ON / && $not_fifo{$1}) }
	  split /\n/, $kept
	  if vcmp($version, '0.4.0') < 0;
	is(differences($node->safe_psql($new, $tables), $kept), '',
		"from $version: the tables of queues and streams are those a new installation makes");

	# the comparison sees every kind of object (an empty answer compares equal)
	if (!$checked_kinds++)
	{
		foreach my $kind ('function', 'relation', 'view', 'column', 'index', 'constraint',
			'trigger', 'sequence', 'type', 'schema', 'comment on', 'initial privileges of',
			'member', 'dumped')
		{
			like($expected, qr/^\Q$kind\E /m, "the comparison lists each $kind");
		}
		like($expected, qr/^function mq\._change_binding\(.*: source: \tRETURN FOUND;$/m,
			'the comparison has the lines of function bodies');
		like($node->safe_psql($new, $rows), qr/^binding .*"cmp_headers"/m,
			'the comparison has the rows of the catalog');
		like($node->safe_psql($new, $tables), qr/^trigger CREATE TRIGGER mq_table_changed .* mq\.q_<cmp_all> /m,
			'the comparison has the tables of queues');
	}

	$after{$version}->($old) if $after{$version};
}

# what a user granted or revoked on a function whose arguments the update
# changes passes to its new version
$node->safe_psql('postgres', q{
	CREATE DATABASE acl_kept;
	CREATE ROLE regress_creator;
	CREATE ROLE regress_other;
});
$node->safe_psql('acl_kept', q{
	CREATE EXTENSION mq VERSION '0.7.0';
	REVOKE EXECUTE ON FUNCTION mq.create_queue(text, interval, int, text, interval, bigint, text,
		bool, interval, bool, interval, bool, bool, bool, int, int, interval, int) FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION mq.create_queue(text, interval, int, text, interval, bigint, text,
		bool, interval, bool, interval, bool, bool, bool, int, int, interval, int) TO regress_creator;
	ALTER EXTENSION mq UPDATE;
});
is($node->safe_psql('acl_kept', q{
	SELECT string_agg(r || ':' || has_function_privilege(r, p.oid, 'execute'), ' ' ORDER BY r)
	FROM pg_proc p, unnest(ARRAY['regress_creator', 'regress_other']) r
	WHERE p.proname = 'create_queue' AND p.pronamespace = 'mq'::regnamespace}),
	'regress_creator:true regress_other:false',
	'a revoke from PUBLIC and a grant on mq.create_queue() outlive the change of its arguments');
is($node->safe_psql('acl_kept', q{
	SELECT has_function_privilege('regress_other', 'mq.send(text, jsonb, jsonb, interval, text, text,
		int, bytea, text, text, text, text, interval)', 'execute')
	  AND NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname LIKE '\\_pre\\_0\\_8\\_%')}), 't',
	'functions nobody changed keep the default, and the old versions are gone');

$node->stop;
done_testing();
