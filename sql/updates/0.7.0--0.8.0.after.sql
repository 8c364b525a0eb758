/*
 * 0.7.0 -> 0.8.0, last step (after the definitions of sql/src/): the
 * functions whose arguments changed were renamed by the delta to
 * _pre_0_8_<name>.  Their new versions get what users granted or revoked on
 * them (doc/security.md suggests revoking mq.create_queue() from PUBLIC),
 * and then they go.  A user's object that depends on one of them (a SQL
 * function with a BEGIN ATOMIC body that calls mq.send, say) makes the
 * update fail here, naming it: recreate that object after the update.
 */
DO $$
DECLARE
	f record;
	g record;
BEGIN
	FOR f IN SELECT o.oid::regprocedure AS old_fn, o.proacl, n.oid::regprocedure AS new_fn
			 FROM pg_catalog.pg_proc o
			 JOIN pg_catalog.pg_proc n
			   ON n.pronamespace = o.pronamespace
			  AND n.proname = pg_catalog.substr(o.proname, pg_catalog.length('_pre_0_8_') + 1)
			 WHERE o.pronamespace = 'mq'::regnamespace
			   AND o.proname LIKE '\_pre\_0\_8\_%'
	LOOP
		IF f.proacl IS NOT NULL THEN
			EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f.new_fn);
			FOR g IN SELECT a.grantee FROM pg_catalog.aclexplode(f.proacl) a
					 WHERE a.privilege_type = 'EXECUTE'
			LOOP
				EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', f.new_fn,
										  CASE WHEN g.grantee = 0 THEN 'PUBLIC'
										  ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END);
			END LOOP;
		END IF;
	END LOOP;
	FOR f IN SELECT o.oid::regprocedure AS old_fn FROM pg_catalog.pg_proc o
			 WHERE o.pronamespace = 'mq'::regnamespace AND o.proname LIKE '\_pre\_0\_8\_%'
	LOOP
		EXECUTE pg_catalog.format('DROP FUNCTION %s', f.old_fn);
	END LOOP;
END;
$$;
