-- Triggers: row changes become messages, in the same transaction.
\set SHOW_CONTEXT never
SELECT mq.create_queue('outbox', visibility_timeout => '1 hour');
CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric, note text);

CREATE TRIGGER orders_outbox AFTER INSERT OR UPDATE OR DELETE ON orders
	FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('outbox');
CREATE TRIGGER orders_truncate AFTER TRUNCATE ON orders
	FOR EACH STATEMENT EXECUTE FUNCTION mq.send_trigger('outbox');

INSERT INTO orders VALUES (1, 'acme', 10.50, 'first');
UPDATE orders SET total = 12 WHERE id = 1;
DELETE FROM orders WHERE id = 1;
TRUNCATE orders;
SELECT body, headers ? 'txid' AS has_txid, headers ? 'trigger_time' AS has_time
FROM mq.read('outbox', 10);

-- the message commits or rolls back with the row
BEGIN;
INSERT INTO orders VALUES (2, 'acme', 1, NULL);
ROLLBACK;
SELECT count(*) FROM mq.read('outbox', 10);
-- all messages of one transaction carry its txid
BEGIN;
INSERT INTO orders VALUES (3, 'x', 1, NULL), (4, 'y', 2, NULL);
COMMIT;
SELECT count(DISTINCT headers->>'txid') AS txids, count(*) FROM mq.read('outbox', 10);

-- options: only some columns, a column as group_key and dedup_key
SELECT mq.purge_queue('outbox');
DROP TRIGGER orders_outbox ON orders;
CREATE TRIGGER orders_outbox AFTER INSERT OR UPDATE ON orders
	FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('outbox', 'columns=id,total', 'key=customer', 'dedup_key=id');
INSERT INTO orders VALUES (5, 'acme', 99, 'secret');
SELECT body->'new' AS new, group_key, dedup_key FROM mq.read('outbox', 10);
INSERT INTO orders VALUES (5, 'acme', 99, 'again') ON CONFLICT (id) DO NOTHING;
UPDATE orders SET note = 'x' WHERE id = 5;			-- same dedup key while queued
SELECT queue_length FROM mq.metrics('outbox');

-- a BEFORE trigger lets the change through
CREATE TABLE notes (id int, txt text);
CREATE TRIGGER notes_before BEFORE INSERT OR UPDATE OR DELETE ON notes
	FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('outbox');
INSERT INTO notes VALUES (1, 'kept');
UPDATE notes SET txt = 'changed';
SELECT * FROM notes;
DELETE FROM notes;
SELECT count(*) FROM notes;

-- publish_trigger: routing key <prefix>.<op>, prefix defaulting to schema.table
SELECT mq.create_exchange('changes', 'topic');
SELECT mq.create_queue('all_changes'), mq.create_queue('order_inserts');
SELECT mq.bind('changes', 'all_changes', '#');
SELECT mq.bind('changes', 'order_inserts', 'public.orders.insert');
SELECT mq.bind('changes', 'order_inserts', 'shop.notes.insert');
CREATE TRIGGER orders_publish AFTER INSERT OR DELETE ON orders
	FOR EACH ROW EXECUTE FUNCTION mq.publish_trigger('changes');
CREATE TRIGGER notes_publish AFTER INSERT ON notes
	FOR EACH ROW EXECUTE FUNCTION mq.publish_trigger('changes', 'shop.notes');
INSERT INTO orders VALUES (6, 'b', 1, NULL);
DELETE FROM orders WHERE id = 6;
INSERT INTO notes VALUES (2, 'n');
SELECT headers->>'x-routing-key' AS key, body->>'op' AS op FROM mq.read('all_changes', 10);
SELECT headers->>'x-routing-key' AS key FROM mq.read('order_inserts', 10);

-- a bulk change: one message per row
SELECT mq.purge_queue('outbox');
DROP TRIGGER orders_publish ON orders;
DROP TRIGGER orders_outbox ON orders;
CREATE TRIGGER orders_outbox AFTER INSERT ON orders
	FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('outbox');
INSERT INTO orders SELECT g, 'bulk', g, NULL FROM generate_series(100, 10099) g;
SELECT queue_length FROM mq.metrics('outbox');

-- bad arguments: a clear error at the first row
CREATE TABLE t (a int);
CREATE TRIGGER t1 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION mq.send_trigger();
INSERT INTO t VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t1 ON t;
CREATE TRIGGER t1 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('nope');
INSERT INTO t VALUES (1);
DROP TRIGGER t1 ON t;
CREATE TRIGGER t1 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('bad name');
INSERT INTO t VALUES (1);
DROP TRIGGER t1 ON t;
CREATE TRIGGER t1 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('outbox', 'columns=a,zzz');
INSERT INTO t VALUES (1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t1 ON t;
CREATE TRIGGER t1 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('outbox', 'colour=red');
INSERT INTO t VALUES (1);
DROP TRIGGER t1 ON t;
CREATE TRIGGER t1 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('outbox', 'stray');
INSERT INTO t VALUES (1);
DROP TRIGGER t1 ON t;
CREATE TRIGGER t1 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION mq.send_trigger('outbox', 'columns=');
INSERT INTO t VALUES (1);
DROP TRIGGER t1 ON t;
CREATE TRIGGER t1 AFTER INSERT ON t FOR EACH STATEMENT EXECUTE FUNCTION mq.send_trigger('outbox');
INSERT INTO t VALUES (1);
DROP TRIGGER t1 ON t;
CREATE TRIGGER t1 AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION mq.publish_trigger('nope');
INSERT INTO t VALUES (1);
DROP TRIGGER t1 ON t;
SELECT mq.send_trigger();
SELECT count(*) FROM t;

-- the Prometheus text format
SELECT mq.purge_queue('outbox');
SELECT line FROM regexp_split_to_table(mq.metrics_prometheus(), E'\n') AS line
WHERE line ~ '^# TYPE|outbox' ;

DROP TABLE orders, notes, t;
SELECT mq.drop_exchange('changes', cascade => true);
SELECT mq.drop_queue(q) FROM unnest(ARRAY['outbox', 'all_changes', 'order_inserts']) q;
