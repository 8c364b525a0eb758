/*
 * privilege.sql: mq's own privileges on queues, streams and exchanges
 * (mq.grant, mq.revoke, mq.grant_exchange, mq.revoke_exchange; checked in
 * privilege.c), and the roles mq names: their dependencies and what DROP
 * OWNED and REASSIGN OWNED do to mq's objects (roles.c).
 */

/*
 * The role a grant names: 'public' means every role; any other spelling is
 * a role's name (a role may be named "Public").
 */
CREATE OR REPLACE FUNCTION mq._grantee(role text) RETURNS oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r oid;
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null'
			USING ERRCODE = 'null_value_not_allowed', HINT = 'Use ''public'' for every role.';
	END IF;
	/* only the keyword: a role may be named "Public" or "PUBLIC" */
	IF role = 'public' THEN
		RETURN 0;
	END IF;
	SELECT a.oid INTO r FROM pg_authid a WHERE a.rolname = role;
	IF NOT FOUND AND lower(role) = 'public' THEN
		RAISE EXCEPTION 'role "%" does not exist', role
			USING ERRCODE = 'undefined_object',
				  HINT = 'Use ''public'' (in lower case) for every role.';
	ELSIF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" does not exist', left(role, 64)
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN r;
END;
$$;

/*
 * Grants and revokes of send, read and manage on queues and streams, of
 * publish and manage on exchanges.  Privileges on streams (send: append;
 * read: read_stream, poll, commit, create_consumer_group, seek; manage:
 * alter, drop, drop_consumer_group, grants) are rows of mq._privilege as
 * for queues.
 */
CREATE OR REPLACE FUNCTION mq._change_grant(kind text, name text, role text, privilege text,
								 give bool) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	primary_checked bool := mq._require_primary(CASE WHEN give THEN 'mq.grant()' ELSE 'mq.revoke()' END) IS NULL;
	oid_ int;
	grantee_ oid;
	privs text[];
	valid text[] := CASE kind WHEN 'exchange' THEN ARRAY['publish', 'manage']
							  ELSE ARRAY['send', 'read', 'manage'] END;
BEGIN
	IF kind = 'stream' THEN
		PERFORM mq._check_privilege(kind, name, 'manage');
		SELECT s.stream_id INTO oid_ FROM mq._stream s WHERE s.stream_name = name;
	ELSE
		oid_ := CASE kind WHEN 'queue' THEN mq._queue_id(name) ELSE mq._exchange_id(name) END;
		PERFORM mq._check_privilege(kind, name, 'manage');
	END IF;
	grantee_ := mq._grantee(role);
	IF privilege IS NULL THEN
		RAISE EXCEPTION 'privilege must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = format('Use one of %s, or all.', array_to_string(valid, ', '));
	ELSIF privilege = 'all' THEN
		privs := valid;
	ELSIF privilege = ANY (valid) THEN
		privs := ARRAY[privilege];
	ELSE
		RAISE EXCEPTION 'invalid privilege "%" for %', left(privilege, 64),
			CASE kind WHEN 'queue' THEN 'a queue' WHEN 'stream' THEN 'a stream' ELSE 'an exchange' END
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('Use one of %s, or all.', array_to_string(valid, ', '));
	END IF;
	IF give THEN
		INSERT INTO mq._privilege (object_type, object_id, grantee, privilege)
			SELECT kind, oid_, grantee_, p FROM unnest(privs) p
			ON CONFLICT DO NOTHING;
	ELSE
		DELETE FROM mq._privilege g
			WHERE g.object_type = kind AND g.object_id = oid_
			  AND g.grantee = grantee_ AND g.privilege = ANY (privs);
	END IF;
END;
$$;

/*
 * 'stream' for a stream's name, else 'queue': mq.grant and mq.revoke take a
 * queue's or a stream's name (they share one namespace).
 */
CREATE OR REPLACE FUNCTION mq._grant_kind(name text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM mq._stream s WHERE s.stream_name = name)
				THEN 'stream' ELSE 'queue' END
$$;

/* The bodies of the management functions (see queue.sql). */
CREATE OR REPLACE FUNCTION mq._grant(queue text, role text, privilege text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq._change_grant(mq._grant_kind(queue), queue, role, privilege, true) $$;

CREATE OR REPLACE FUNCTION mq._revoke(queue text, role text, privilege text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq._change_grant(mq._grant_kind(queue), queue, role, privilege, false) $$;

CREATE OR REPLACE FUNCTION mq._grant_exchange(exchange text, role text, privilege text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq._change_grant('exchange', exchange, role, privilege, true) $$;

CREATE OR REPLACE FUNCTION mq._revoke_exchange(exchange text, role text, privilege text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT mq._change_grant('exchange', exchange, role, privilege, false) $$;

/* The entry points (mq_manage() calls the body of the same name). */
CREATE OR REPLACE FUNCTION mq.grant(queue text, role text, privilege text)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.grant(text, text, text) IS 'Grant send, read, manage or all on a queue to a role or public.';

CREATE OR REPLACE FUNCTION mq.revoke(queue text, role text, privilege text)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.revoke(text, text, text) IS 'Revoke a privilege on a queue.';

CREATE OR REPLACE FUNCTION mq.grant_exchange(exchange text, role text, privilege text)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.grant_exchange(text, text, text)
	IS 'Grant publish, manage or all on an exchange to a role or public.';

CREATE OR REPLACE FUNCTION mq.revoke_exchange(exchange text, role text, privilege text)
RETURNS void AS 'MODULE_PATHNAME', 'mq_manage' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.revoke_exchange(text, text, text) IS 'Revoke a privilege on an exchange.';

/* mq.privileges: who holds what, beyond owners and superusers */
CREATE OR REPLACE VIEW mq.privileges AS
	SELECT p.object_type, coalesce(q.queue_name, e.exchange_name, s.stream_name) AS object_name,
		   CASE WHEN p.grantee = 0 THEN 'public' ELSE a.rolname::text END AS grantee,
		   p.privilege
	FROM mq._privilege p
		LEFT JOIN mq._queue q ON p.object_type OPERATOR(pg_catalog.=) 'queue'
			AND q.queue_id OPERATOR(pg_catalog.=) p.object_id
		LEFT JOIN mq._exchange e ON p.object_type OPERATOR(pg_catalog.=) 'exchange'
			AND e.exchange_id OPERATOR(pg_catalog.=) p.object_id
		LEFT JOIN mq._stream s ON p.object_type OPERATOR(pg_catalog.=) 'stream'
			AND s.stream_id OPERATOR(pg_catalog.=) p.object_id
		LEFT JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) p.grantee;
COMMENT ON VIEW mq.privileges IS 'Grants beyond owners and superusers.';

/*
 * Roles that mq names (owners, grantees) have dependencies in pg_shdepend
 * (roles.c): DROP ROLE refuses, from any database, while a role owns
 * queues, streams or exchanges or holds privileges on them; DROP OWNED and
 * REASSIGN OWNED deal with mq's objects as with PostgreSQL's.
 */
CREATE OR REPLACE FUNCTION mq._sync_role_dependencies() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mq_sync_role_dependencies' LANGUAGE C;
CREATE OR REPLACE TRIGGER role_dependencies
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._queue
	FOR EACH STATEMENT EXECUTE FUNCTION mq._sync_role_dependencies();
CREATE OR REPLACE TRIGGER role_dependencies
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._exchange
	FOR EACH STATEMENT EXECUTE FUNCTION mq._sync_role_dependencies();
CREATE OR REPLACE TRIGGER role_dependencies
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._privilege
	FOR EACH STATEMENT EXECUTE FUNCTION mq._sync_role_dependencies();
CREATE OR REPLACE TRIGGER role_dependencies
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._stream
	FOR EACH STATEMENT EXECUTE FUNCTION mq._sync_role_dependencies();
CREATE OR REPLACE TRIGGER role_dependencies
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mq._binding
	FOR EACH STATEMENT EXECUTE FUNCTION mq._sync_role_dependencies();

/*
 * DROP OWNED BY roles, after PostgreSQL's part: their privileges, the
 * bindings they made, their streams, exchanges and queues
 */
CREATE OR REPLACE FUNCTION mq._drop_owned(roles oid[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	name text;
BEGIN
	DELETE FROM mq._privilege p WHERE p.grantee = ANY (roles);
	DELETE FROM mq._binding b WHERE b.owner = ANY (roles);
	FOR name IN SELECT s.stream_name FROM mq._stream s
				WHERE s.owner = ANY (roles) ORDER BY 1 LOOP
		PERFORM mq._drop_stream(name, true);
	END LOOP;
	FOR name IN SELECT e.exchange_name FROM mq._exchange e
				WHERE e.owner = ANY (roles) ORDER BY 1 LOOP
		PERFORM mq._drop_exchange(name, true, true);
	END LOOP;
	/* a queue that is another's dead-letter queue goes after that one */
	LOOP
		SELECT q.queue_name INTO name FROM mq._queue q
			WHERE q.owner = ANY (roles)
			  AND NOT EXISTS (SELECT 1 FROM mq._queue u
							  WHERE u.dead_letter_queue_id = q.queue_id)
			ORDER BY 1 LIMIT 1;
		EXIT WHEN NOT FOUND;
		PERFORM mq._drop_queue(name, true);
	END LOOP;
	/*
	 * what is left is the dead-letter queue of another role's queue, which
	 * loses that setting (with a notice)
	 */
	FOR name IN SELECT q.queue_name FROM mq._queue q
				WHERE q.owner = ANY (roles) ORDER BY 1 LOOP
		PERFORM mq._drop_queue(name, true);
	END LOOP;
END;
$$;

/* REASSIGN OWNED BY roles TO new_owner, after PostgreSQL's part */
CREATE OR REPLACE FUNCTION mq._reassign_owned(roles oid[], new_owner oid) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE mq._queue q SET owner = new_owner WHERE q.owner = ANY (roles);
	UPDATE mq._exchange e SET owner = new_owner WHERE e.owner = ANY (roles);
	UPDATE mq._binding b SET owner = new_owner WHERE b.owner = ANY (roles);
	UPDATE mq._stream s SET owner = new_owner WHERE s.owner = ANY (roles);
$$;

REVOKE EXECUTE ON FUNCTION mq._grantee(text), mq._change_grant(text, text, text, text, bool),
	mq._grant_kind(text), mq._grant(text, text, text), mq._revoke(text, text, text),
	mq._grant_exchange(text, text, text), mq._revoke_exchange(text, text, text),
	mq._sync_role_dependencies(), mq._drop_owned(oid[]), mq._reassign_owned(oid[], oid)
	FROM PUBLIC;
GRANT SELECT ON mq.privileges TO PUBLIC;
