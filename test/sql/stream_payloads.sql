-- Streams: records with a bytes payload and properties (doc/streams.md,
-- "Payloads and properties"): a record has a JSON body or a payload with
-- its content_type and content_encoding, a correlation_id and reply_to, and
-- the role that appended it (sent_by).
\set SHOW_CONTEXT never

SELECT mq.create_stream('p_log', partitions => 1);

-- bytes round-trip exactly: every byte value, an empty payload
SELECT position FROM mq.append('p_log',
	payload => (SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), '' ORDER BY i), 'hex')
				FROM generate_series(0, 255) i));
SELECT position FROM mq.append('p_log', payload => '\x'::bytea, content_type => 'text/plain; charset=utf-8');
SELECT position, body, length(payload) AS len, content_type, content_encoding,
	   payload = (SELECT decode(string_agg(lpad(to_hex(i), 2, '0'), '' ORDER BY i), 'hex')
				  FROM generate_series(0, 255) i) AS all_bytes
FROM mq.read_stream('p_log', 0, 0);
SELECT get_byte(payload, 0) AS first, get_byte(payload, 255) AS last,
	   (SELECT bool_and(get_byte(payload, i) = i) FROM generate_series(0, 255) i) AS each_in_place
FROM mq.read_stream('p_log', 0, 0, 1);

-- up to mq.max_message_size bytes; one byte more is refused
SET mq.max_message_size = 1000;
SELECT position FROM mq.append('p_log', payload => decode(repeat('ab', 1000), 'hex'));
SELECT mq.append('p_log', payload => decode(repeat('ab', 1001), 'hex'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.append_batch('p_log', payloads => ARRAY[decode(repeat('ab', 1001), 'hex')]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET mq.max_message_size;
SELECT position, length(payload) AS len FROM mq.read_stream('p_log', 0, 2);

-- JSON and payload records in one stream; properties on both
SELECT position FROM mq.append('p_log', '{"json": true}', correlation_id => 'req-1',
							   reply_to => 'replies');
SELECT position FROM mq.append('p_log', payload => '\x0a0b', content_type => 'application/x-protobuf',
							   content_encoding => 'gzip', correlation_id => 'req-2',
							   reply_to => 'replies', key => 'k', headers => '{"h": 1}');
-- and in one batch: each element a body or a payload; content_encoding
-- and reply_to for all (content_encoding only where there is a payload)
SELECT partition, position FROM mq.append_batch('p_log',
	bodies => ARRAY['{"b": 1}', NULL, '{"b": 3}', NULL]::jsonb[],
	payloads => ARRAY[NULL, '\x01', NULL, '\x']::bytea[],
	content_types => ARRAY[NULL, 'application/x-avro', NULL, NULL],
	content_encoding => 'br',
	correlation_ids => ARRAY['c1', NULL, 'c3', 'c4'],
	reply_to => 'back');
SELECT position, key, headers, body, payload, content_type, content_encoding, correlation_id,
	   reply_to, sent_by
FROM mq.read_stream('p_log', 0, 3);

-- the same through the statement (mq.direct_access off)
SET mq.direct_access = off;
SELECT position FROM mq.append('p_log', payload => '\xc0ffee', content_type => 'image/x-test',
							   content_encoding => 'identity', correlation_id => 'req-s',
							   reply_to => 'r');
RESET mq.direct_access;
SELECT position, body, payload, content_type, content_encoding, correlation_id, reply_to, sent_by
FROM mq.read_stream('p_log', 0, 9);

-- consumer groups poll the same columns
SELECT mq.create_consumer_group('p_log', 'g', 'earliest');
SELECT position, body, payload, content_type, content_encoding, correlation_id, reply_to, sent_by
FROM mq.poll('p_log', 'g', 'c1', max => 100) WHERE position >= 3;

-- errors: a record has a body or a payload, never both, never neither
SELECT mq.append('p_log', '{}', payload => '\x00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.append('p_log');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.append('p_log', NULL, payload => NULL, content_type => 'text/plain');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- content type and encoding: only for payloads, not empty, short, no
-- control characters
SELECT mq.append('p_log', payload => '\x00', content_type => '');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.append('p_log', '{}', content_type => 'application/json');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.append('p_log', '{}', content_encoding => 'gzip');
SELECT mq.append('p_log', payload => '\x00', content_type => repeat('x', 256));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.append('p_log', payload => '\x00', content_type => E'text/plain\n');
SELECT mq.append('p_log', payload => '\x00', content_encoding => '');
-- correlation_id and reply_to: at most 255 bytes (255 is fine)
SELECT mq.append('p_log', '{}', correlation_id => repeat('x', 256));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT mq.append('p_log', '{}', reply_to => repeat('x', 256));
SELECT position FROM mq.append('p_log', '{}', correlation_id => repeat('x', 255));
SELECT length(correlation_id) FROM mq.read_stream('p_log', 0, 10);
-- nobody names the sender
DO $$
BEGIN
	EXECUTE $q$SELECT mq.append('p_log', '{}', sent_by => 'someone')$q$;
EXCEPTION WHEN undefined_function THEN
	RAISE NOTICE 'mq.append(sent_by => ...): %', SQLSTATE;
END;
$$;
-- batches: the arrays agree in length; each element has one of the two
SELECT count(*) FROM mq.append_batch('p_log', ARRAY['{}']::jsonb[], payloads => ARRAY[NULL, '\x00']::bytea[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.append_batch('p_log', payloads => ARRAY['\x00']::bytea[],
									 content_types => ARRAY['a/b', 'c/d']);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.append_batch('p_log', payloads => ARRAY['\x00']::bytea[],
									 correlation_ids => ARRAY['a', 'b']);
SELECT count(*) FROM mq.append_batch('p_log', ARRAY['{}', '{}']::jsonb[],
									 payloads => ARRAY[NULL, '\x00']::bytea[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.append_batch('p_log', ARRAY['{}', NULL]::jsonb[],
									 payloads => ARRAY[NULL, NULL]::bytea[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.append_batch('p_log', ARRAY['{}', NULL]::jsonb[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.append_batch('p_log');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM mq.append_batch('p_log', payloads => ARRAY['\x00']::bytea[],
									 content_types => ARRAY['']);
SELECT count(*) FROM mq.append_batch('p_log', ARRAY['{}']::jsonb[], content_encoding => 'gzip');
SELECT count(*) FROM mq.append_batch('p_log', ARRAY['{}']::jsonb[], correlation_ids => ARRAY[repeat('x', 256)]);
-- nothing of the refused calls was appended
SELECT mq.stream_end('p_log', 0);

-- sent_by: the current user, under SET ROLE and in a SECURITY DEFINER
-- function (its owner)
CREATE ROLE p_writer;
CREATE ROLE p_definer;
SELECT mq.grant('p_log', 'p_writer', 'send');
SELECT mq.grant('p_log', 'p_definer', 'send');
CREATE FUNCTION p_append_as_definer() RETURNS bigint LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog
AS $$ SELECT position FROM mq.append('p_log', payload => '\xff') $$;
ALTER FUNCTION p_append_as_definer() OWNER TO p_definer;
GRANT EXECUTE ON FUNCTION p_append_as_definer() TO p_writer;
SET ROLE p_writer;
SELECT position FROM mq.append('p_log', '{"who": "writer"}');
SELECT p_append_as_definer();
SELECT count(*) FROM mq.append_batch('p_log', payloads => ARRAY['\x01', '\x02']::bytea[]);
RESET ROLE;
SELECT position, body, payload, sent_by FROM mq.read_stream('p_log', 0, 11);
DROP FUNCTION p_append_as_definer();
SELECT mq.revoke('p_log', 'p_writer', 'send');
SELECT mq.revoke('p_log', 'p_definer', 'send');
DROP ROLE p_writer, p_definer;
SELECT mq.drop_stream('p_log');

-- payloads with keys go to their key's partition, in order
SELECT mq.create_stream('p_keyed', partitions => 4);
SELECT k, partition = mq.stream_partition(k, 4) AS keys_partition
FROM mq.append_batch('p_keyed', payloads => ARRAY['\x01', '\x02', '\x03', '\x04']::bytea[],
					 keys => ARRAY['a', 'b', 'a', 'c']) WITH ORDINALITY AS r(partition, position, i)
JOIN unnest(ARRAY['a', 'b', 'a', 'c']) WITH ORDINALITY AS u(k, j) ON i = j;
SELECT r.partition, r.position, r.key, r.payload, r.content_type
FROM generate_series(0, 3) p, mq.read_stream('p_keyed', p, 0) r ORDER BY r.key, r.position;
SELECT partition, position FROM mq.append('p_keyed', payload => '\x05', key => 'a');
SELECT mq.drop_stream('p_keyed');

-- a segment table not yet updated (its six columns from before 0.8.0):
-- its records read with NULL payloads and properties; it takes JSON
-- records, not payloads
SELECT mq.create_stream('p_old', partitions => 1);
SELECT position FROM mq.append('p_old', '{"old": 1}', correlation_id => 'x');
SELECT format('mq.s_%s_1', stream_id) AS seg FROM mq._stream WHERE stream_name = 'p_old' \gset
ALTER TABLE :seg DROP COLUMN payload, DROP COLUMN content_type, DROP COLUMN content_encoding,
	DROP COLUMN correlation_id, DROP COLUMN reply_to, DROP COLUMN sent_by;
SELECT position FROM mq.append('p_old', '{"old": 2}', correlation_id => 'y');
SELECT count(*) FROM mq.append_batch('p_old', ARRAY['{"old": 3}', '{"old": 4}']::jsonb[]);
SELECT mq.append('p_old', payload => '\x00');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT position, body, payload, content_type, correlation_id, sent_by FROM mq.read_stream('p_old', 0, 0);
SELECT mq.drop_stream('p_old');

-- retention by bytes counts payloads (kept out of line, in the TOAST table)
SELECT mq.create_stream('p_big', partitions => 1, retention => '0', retention_bytes => 1048576);
DO $$
BEGIN
	FOR i IN 1 .. 80 LOOP
		-- 16 kB that do not compress
		PERFORM mq.append('p_big', payload => (SELECT decode(string_agg(md5(i || ':' || j), ''), 'hex')
												FROM generate_series(1, 1024) j));
		COMMIT;
		PERFORM mq._maintain_streams();
		COMMIT;
	END LOOP;
END $$;
SELECT sum(mq._segment_size(g.stream_id, g.segment)) FILTER (WHERE g.segment < (SELECT max(segment)
		FROM mq._stream_segment WHERE stream_id = g.stream_id)) <= 1048576 AS within_limit,
	   count(*) > 1 AS several_segments, min(g.segment) > 1 AS oldest_segments_gone
FROM mq._stream_segment g JOIN mq._stream s USING (stream_id) WHERE s.stream_name = 'p_big';
SELECT count(*) BETWEEN 10 AND 70 AS some_kept, min(position) > 0 AS oldest_gone,
	   max(position) = 79 AS newest_kept, bool_and(length(payload) = 16384) AS whole
FROM mq.read_stream('p_big', 0, 0);
SELECT mq.drop_stream('p_big');
