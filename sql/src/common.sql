/*
 * common.sql: what every part of mq uses -- the catalog's invalidation
 * trigger, privilege checks, names, the primary check -- and the schema's
 * grant.
 *
 * Like every file of sql/src/ but catalog.sql, it runs in the install script
 * and again in every update script, so each statement can run twice:
 * CREATE OR REPLACE, GRANT, REVOKE, COMMENT.
 */

/*
 * Roles reach mq only through its functions: the tables stay closed; the
 * schema and views are open; maintenance is for superusers (and the worker).
 */
GRANT USAGE ON SCHEMA mq TO PUBLIC;

/* Every change to the catalog invalidates the per-backend caches. */
CREATE OR REPLACE FUNCTION mq._catalog_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mq_catalog_changed' LANGUAGE C;

/* queues, exchanges, bindings and grants (queue_catalog.c, exchange_route.c) */
CREATE OR REPLACE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._queue
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();
CREATE OR REPLACE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._privilege
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();
CREATE OR REPLACE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._exchange
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();
CREATE OR REPLACE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._binding
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();
/* every change of streams or segments drops the backends' stream caches */
CREATE OR REPLACE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._stream
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();
CREATE OR REPLACE TRIGGER catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._stream_segment
	FOR EACH STATEMENT EXECUTE FUNCTION mq._catalog_changed();

/* Privilege checks for the SQL-language functions (privilege.c). */
CREATE OR REPLACE FUNCTION mq._check_privilege(kind text, name text, privilege text) RETURNS void
	AS 'MODULE_PATHNAME', 'mq_check_privilege_sql' LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION mq._has_privilege(kind text, name text, privilege text) RETURNS bool
	AS 'MODULE_PATHNAME', 'mq_has_privilege_sql' LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION mq._caller() RETURNS oid
	AS 'MODULE_PATHNAME', 'mq_caller_sql' LANGUAGE C STABLE;

/* Internal helpers shared by the C and SQL halves. */
CREATE OR REPLACE FUNCTION mq._check_name(name text, kind text) RETURNS void
	AS 'MODULE_PATHNAME', 'mq_check_name_sql' LANGUAGE C;

CREATE OR REPLACE FUNCTION mq._require_primary(what text) RETURNS void
	AS 'MODULE_PATHNAME', 'mq_require_primary_sql' LANGUAGE C STABLE;

/*
 * Durability of a queue or stream (kind), checked (durability.c, "Durability"
 * in doc/operations.md): 'local' or 'replicated'; min_replicas only with
 * 'replicated', where it defaults to 1; an unlogged object, which no standby
 * receives, cannot be replicated.  Returns min_replicas as the catalog keeps
 * it: NULL for 'local'.
 */
CREATE OR REPLACE FUNCTION mq._durability_options(kind text, durability text,
												  min_replicas int, unlogged bool)
RETURNS int
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF durability IS NULL OR durability NOT IN ('local', 'replicated') THEN
		RAISE EXCEPTION 'invalid durability "%"', left(durability, 64)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''local'' or ''replicated''.';
	END IF;
	IF durability = 'local' THEN
		IF min_replicas IS NOT NULL THEN
			RAISE EXCEPTION 'min_replicas needs durability ''replicated'''
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = format('Leave min_replicas unset for a ''local'' %s, or give durability => ''replicated''.', kind);
		END IF;
		RETURN NULL;
	END IF;
	IF min_replicas < 1 THEN
		RAISE EXCEPTION 'min_replicas must be at least 1'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give how many synchronous standbys must be streaming for a send, such as 1.';
	END IF;
	IF unlogged THEN
		RAISE EXCEPTION 'an unlogged % cannot be replicated', kind
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Unlogged tables are not written to WAL, so no standby receives them.',
				  HINT = 'Use unlogged => false, or durability => ''local''.';
	END IF;
	RETURN coalesce(min_replicas, 1);
END;
$$;

/*
 * Is an interval longer than 100 years, as a whole or in any of its fields
 * (args.c)?  '5880000 years -2116800000 days' is short as a whole but
 * leaves the range of timestamps when added to now.
 */
CREATE OR REPLACE FUNCTION mq._interval_too_long(i interval) RETURNS bool
	AS 'MODULE_PATHNAME', 'mq_interval_too_long_sql' LANGUAGE C STRICT IMMUTABLE;

/*
 * The lock that serialises the management of one name (manage.c): of
 * queues and streams ('queue') or of exchanges ('exchange'), not of others.
 */
CREATE OR REPLACE FUNCTION mq._lock_name(namespace text, name text) RETURNS void
	AS 'MODULE_PATHNAME', 'mq_lock_name' LANGUAGE C STRICT VOLATILE;

/*
 * Internal functions are for mq's own SECURITY DEFINER bodies, which run
 * as the extension's owner: no other role needs them, and a role that could
 * call them could probe other roles' queues.  Each file closes its own.
 */
REVOKE EXECUTE ON FUNCTION mq._catalog_changed(), mq._check_privilege(text, text, text),
	mq._has_privilege(text, text, text), mq._caller(), mq._check_name(text, text),
	mq._require_primary(text), mq._lock_name(text, text),
	mq._durability_options(text, text, int, bool), mq._interval_too_long(interval)
	FROM PUBLIC;

/*
 * DROP EXTENSION mq takes the tables of queues and stream segments with it
 * (with CASCADE; without, it refuses and lists them): before the drop, the
 * event trigger makes them depend on the extension (extension.c).  Created
 * once; the function is replaced like every other.
 */
CREATE OR REPLACE FUNCTION mq._before_drop_extension() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'mq_before_drop_extension' LANGUAGE C;
REVOKE EXECUTE ON FUNCTION mq._before_drop_extension() FROM PUBLIC;
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger WHERE evtname = 'mq_drop_extension') THEN
		CREATE EVENT TRIGGER mq_drop_extension ON ddl_command_start
			WHEN TAG IN ('DROP EXTENSION')
			EXECUTE FUNCTION mq._before_drop_extension();
	END IF;
END;
$$;
COMMENT ON EVENT TRIGGER mq_drop_extension
	IS 'Before DROP EXTENSION mq: the tables of queues and stream segments depend on the extension.';
