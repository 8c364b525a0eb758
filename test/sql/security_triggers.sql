-- A trigger somebody put on a queue's table runs as the extension's owner
-- (mq sends through its SQL path then, as that owner).  It runs with
-- search_path "pg_catalog, pg_temp": a sender's own functions, found first
-- through the sender's search_path, must never run as the owner.
\set SHOW_CONTEXT never

CREATE ROLE regress_st_sender;
CREATE SCHEMA regress_st_evil AUTHORIZATION regress_st_sender;
SELECT mq.create_queue('st_q');
SELECT mq.grant('st_q', 'regress_st_sender', 'send');
CREATE TABLE st_seen (search_path text, usr text);
CREATE TABLE st_hijacked (usr text);
GRANT INSERT ON st_hijacked TO PUBLIC;
-- an audit trigger written without SET search_path, calling lower()
CREATE FUNCTION st_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.st_seen VALUES (pg_catalog.current_setting('search_path'), lower(current_user::text));
	RETURN NULL;
END $$;
DO $$ BEGIN EXECUTE format('CREATE TRIGGER st_audit AFTER INSERT ON mq.q_%s FOR EACH ROW EXECUTE FUNCTION st_audit()', mq._queue_id('st_q')); END $$;

-- the sender's lower(), which would record who ran it
SET ROLE regress_st_sender;
CREATE FUNCTION regress_st_evil.lower(text) RETURNS text LANGUAGE sql
	AS $$ INSERT INTO public.st_hijacked VALUES (current_user) RETURNING 'hijacked' $$;
SET search_path = regress_st_evil, pg_catalog, public;
SELECT mq.send('st_q', '{"n": 1}') > 0 AS sent;
SELECT mq.send_batch('st_q', ARRAY['{"n": 2}', '{"n": 3}']::jsonb[]) IS NOT NULL AS sent_batch;
-- the sender's own setting is back after the call
SHOW search_path;
RESET search_path;
RESET ROLE;

-- the trigger ran as the owner, with mq's search_path, and called
-- pg_catalog.lower(); the sender's function never ran
SELECT search_path, usr = lower(current_user::text) AS as_owner, count(*)
FROM st_seen GROUP BY 1, 2;
SELECT count(*) AS hijacked FROM st_hijacked;

SELECT mq.drop_queue('st_q');
DROP TABLE st_seen, st_hijacked;
DROP FUNCTION st_audit();
DROP SCHEMA regress_st_evil CASCADE;
DROP ROLE regress_st_sender;
