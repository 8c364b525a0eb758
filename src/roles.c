/*-------------------------------------------------------------------------
 *
 * roles.c
 *	  Roles that own queues and exchanges or hold privileges on them:
 *	  dependencies in pg_shdepend, DROP ROLE, DROP OWNED and REASSIGN OWNED.
 *
 * mq keeps owners and grantees as role oids in its own catalog (mq._queue,
 * mq._exchange, mq._privilege), which PostgreSQL does not read.  So that a
 * role that mq still names cannot be dropped from any database, and its
 * oid never passes to a new role along with its queues, every role that
 * mq names has a dependency in pg_shdepend, as PostgreSQL records them for
 * the owners and grantees of its own objects.  They are recorded as
 * privileges (SHARED_DEPENDENCY_ACL) on the catalog table mq._queue:
 * pg_shdepend can only point at PostgreSQL's objects, and privileges are
 * the kind that DROP OWNED passes to the object's class without dropping
 * anything (an owner dependency would have it drop the table).  So DROP
 * ROLE, from any database, refuses with "privileges for table mq._queue".
 * mq._sync_role_dependencies() brings them in line with the catalog after
 * every change of owners or grants.
 *
 * In a database with mq, the utility hook (mq.c) adds what DROP OWNED and
 * REASSIGN OWNED do for PostgreSQL's objects: after PostgreSQL's part (and
 * its permission checks), DROP OWNED BY r drops r's queues and exchanges
 * and the bindings r made and removes the privileges granted to r;
 * REASSIGN OWNED BY r TO s makes s the owner of r's queues, exchanges and
 * bindings.  Before DROP ROLE it names what
 * mq still holds of the role, which PostgreSQL's message cannot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "manage.h"
#include "privilege.h"
#include "roles.h"
#include "spi.h"

PG_FUNCTION_INFO_V1(mq_sync_role_dependencies);

/* the lock that serialises the syncs of a database (an advisory lock's field4) */
#define MQ_LOCKTAG_ROLES 0x6d72

/* the roles that mq names, in this database */
#define MQ_ROLES_SQL \
	"SELECT owner FROM mq._queue" \
	" UNION SELECT owner FROM mq._exchange" \
	" UNION SELECT grantee FROM mq._privilege" \
	" WHERE grantee OPERATOR(pg_catalog.<>) 0"

/* streams (0.4.0 on) name their owners too */
static bool
has_streams(void)
{
	return OidIsValid(get_relname_relid("_stream", get_namespace_oid("mq", false)));
}

/* and so do bindings (0.8.0 on) */
static bool
has_binding_owners(void)
{
	return get_attnum(get_relname_relid("_binding", get_namespace_oid("mq", false)),
					  "owner") != InvalidAttrNumber;
}

/* the dependencies recorded for them: privileges on mq._queue */
#define MQ_DEPENDENCIES_SQL \
	"SELECT d.refobjid FROM pg_catalog.pg_shdepend d" \
	" JOIN pg_catalog.pg_database b ON b.oid OPERATOR(pg_catalog.=) d.dbid" \
	" WHERE b.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()" \
	" AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass" \
	" AND d.objid OPERATOR(pg_catalog.=) $1 AND d.objsubid OPERATOR(pg_catalog.=) 0" \
	" AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass" \
	" AND d.deptype OPERATOR(pg_catalog.=) 'a'"

/*
 * The oids in the first column of the last SPI result, with extra (n of
 * them) added, sorted and without duplicates, as updateAclDependencies()
 * wants them.  Returns how many.
 */
static int
result_roles(Oid *extra, int nextra, Oid **roles)
{
	int			n = 0;
	uint64		i;

	*roles = palloc(sizeof(Oid) * (SPI_processed + nextra + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i],
									  SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			(*roles)[n++] = DatumGetObjectId(d);
	}
	if (nextra > 0)
		memcpy(*roles + n, extra, sizeof(Oid) * nextra);
	n += nextra;
	if (n > 1)
	{
		qsort(*roles, n, sizeof(Oid), oid_cmp);
		n = (int) qunique(*roles, n, sizeof(Oid), oid_cmp);
	}
	return n;
}

/*
 * Record a dependency for every role that mq names and drop those of roles
 * it no longer names; the roles in mq._queue's own ACL (privileges a
 * superuser granted on the table) keep theirs.
 *
 * Syncs are serialised by a lock of mq's own kind, held to the end of the
 * transaction, and read with the latest snapshot: so each sees what the
 * syncs before it committed, whatever the isolation level, and never drops
 * the dependency of a role that a concurrent change has just named.  They
 * run as their transaction commits (sync_at_commit()), so the lock is held
 * from there to the commit's end only: a transaction that changed owners or
 * grants and stays open holds nothing that another role's changes wait for.
 */
static void
sync_role_dependencies(void)
{
	Oid			catalog;
	HeapTuple	tup;
	Oid			owner;
	Oid		   *acl_roles = NULL;
	int			nacl = 0;
	Oid		   *old_roles;
	Oid		   *new_roles;
	int			nold;
	int			nnew;
	Datum		relid;
	Oid			argtype = OIDOID;
	LOCKTAG		tag;
	int			ret;

	catalog = get_relname_relid("_queue", get_namespace_oid("mq", true));
	if (!OidIsValid(catalog))
		return;					/* the extension was dropped meanwhile */
	relid = ObjectIdGetDatum(catalog);

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 0, MQ_LOCKTAG_ROLES);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	CommandCounterIncrement();

	tup = SearchSysCache1(RELOID, relid);
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", catalog);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	{
		bool		isnull;
		Datum		acl = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relacl, &isnull);

		if (!isnull)
			nacl = aclmembers(DatumGetAclPCopy(acl), &acl_roles);
	}
	ReleaseSysCache(tup);

	mq_spi_connect();
	ret = mq_execute_latest_as_owner(MQ_DEPENDENCIES_SQL, 1, &argtype, &relid);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	nold = result_roles(NULL, 0, &old_roles);
	ret = mq_execute_latest_as_owner(psprintf("%s%s%s", MQ_ROLES_SQL,
											  has_streams() ?
											  " UNION SELECT owner FROM mq._stream" : "",
											  has_binding_owners() ?
											  " UNION SELECT owner FROM mq._binding" : ""),
									 0, NULL, NULL);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	nnew = result_roles(acl_roles, nacl, &new_roles);

	/* it frees both arrays, which live in SPI's memory */
	updateAclDependencies(RelationRelationId, catalog, 0, owner,
						  nold, old_roles, nnew, new_roles);
	SPI_finish();
}

/* a change of owners or grants in this transaction awaits its sync */
static bool sync_pending = false;

/* Sync as the transaction commits (or prepares), if it changed anything. */
static void
sync_at_commit(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (sync_pending)
			{
				sync_pending = false;
				sync_role_dependencies();
			}
			break;
		default:
			sync_pending = false;
			break;
	}
}

/*
 * mq._sync_role_dependencies(): a statement trigger on mq._queue,
 * mq._stream, mq._exchange and mq._privilege.  It notes that the
 * transaction must bring the dependencies in line with the catalog as it
 * commits (sync_role_dependencies()).
 */
Datum
mq_sync_role_dependencies(PG_FUNCTION_ARGS)
{
	static bool registered = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mq._sync_role_dependencies() must be called as a trigger")));
	if (!registered)
	{
		RegisterXactCallback(sync_at_commit, NULL);
		registered = true;
	}
	sync_pending = true;
	return PointerGetDatum(NULL);
}

/*
 * Does this database have mq, of a version with the role functions?  (The
 * hook runs in every database, and 0.1.0 lacks them.)
 */
static bool
database_has_mq(void)
{
	Oid			argtypes[2] = {OIDARRAYOID, OIDOID};

	return IsTransactionState() && OidIsValid(get_extension_oid("mq", true)) &&
		OidIsValid(LookupFuncName(list_make2(makeString("mq"),
											 makeString("_reassign_owned")),
								  2, argtypes, true));
}

/* The oids of a list of RoleSpecs (PostgreSQL has checked that they exist). */
static ArrayType *
role_array(List *roles)
{
	Datum	   *oids = palloc(sizeof(Datum) * (list_length(roles) + 1));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, roles)
		oids[n++] = ObjectIdGetDatum(get_rolespec_oid(lfirst(lc), false));
	return construct_array(oids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
}

/* Run one of mq's role statements as the extension owner, with roles as $1. */
static void
run_role_statement(const char *sql, int nargs, Datum *values)
{
	Oid			argtypes[2] = {OIDARRAYOID, OIDOID};
	int			ret;

	mq_spi_connect();
	ret = mq_execute_as_manager(sql, nargs, argtypes, values);
	if (ret < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	SPI_finish();
}

/*
 * Before DROP ROLE: bring the dependencies in line with what this
 * transaction changed, then refuse, naming what mq holds of the role in
 * this database, with the way out.  (In other databases pg_shdepend
 * refuses.)
 */
void
mq_roles_before_utility(Node *parsetree)
{
	DropRoleStmt *stmt;
	ListCell   *lc;

	if (!IsA(parsetree, DropRoleStmt))
		return;
	/*
	 * What this transaction changed counts (a revoke, then DROP ROLE).  The
	 * sync stays pending for the commit too: a savepoint around the DROP
	 * ROLE may roll this one back.
	 */
	if (sync_pending)
		sync_role_dependencies();
	if (!database_has_mq())
		return;
	stmt = (DropRoleStmt *) parsetree;
	foreach(lc, stmt->roles)
	{
		RoleSpec   *spec = lfirst(lc);
		Oid			role;
		Datum		value;
		Oid			argtype = OIDOID;
		int			ret;
		char	   *objects = NULL;

		if (spec->roletype != ROLESPEC_CSTRING)
			continue;			/* PostgreSQL refuses CURRENT_USER and such */
		role = get_role_oid(spec->rolename, true);
		if (!OidIsValid(role))
			continue;
		value = ObjectIdGetDatum(role);
		mq_spi_connect();
		ret = mq_execute_as_owner(psprintf("SELECT pg_catalog.string_agg(what, E'\\n' ORDER BY what) FROM ("
								  " SELECT pg_catalog.format('owner of queue %%s', queue_name) FROM mq._queue WHERE owner OPERATOR(pg_catalog.=) $1"
								  " UNION ALL SELECT pg_catalog.format('owner of exchange %%s', exchange_name) FROM mq._exchange WHERE owner OPERATOR(pg_catalog.=) $1"
								  "%s%s"
								  " UNION ALL SELECT pg_catalog.format('privileges on %%s %%s', object_type, object_name)"
								  "  FROM (SELECT DISTINCT object_type, object_name FROM mq.privileges p"
								  "   JOIN pg_catalog.pg_authid a ON a.rolname OPERATOR(pg_catalog.=) p.grantee"
								  "   WHERE a.oid OPERATOR(pg_catalog.=) $1) g) s(what)",
								  has_streams() ?
								  " UNION ALL SELECT pg_catalog.format('owner of stream %s', stream_name) FROM mq._stream WHERE owner OPERATOR(pg_catalog.=) $1" : "",
								  has_binding_owners() ?
								  " UNION ALL SELECT pg_catalog.format('owner of binding from exchange %s to %s %s', source, destination_type, destination) FROM mq.bindings WHERE owner OPERATOR(pg_catalog.=) (SELECT rolname FROM pg_catalog.pg_authid WHERE oid OPERATOR(pg_catalog.=) $1)" : ""),
								  1, &argtype, &value, NULL, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		if (SPI_processed > 0)
			objects = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (objects != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("role \"%s\" cannot be dropped because some objects depend on it",
							spec->rolename),
					 errdetail("%s", objects),
					 errhint("Hand its queues, exchanges and streams over with REASSIGN OWNED BY, or drop them and its privileges with DROP OWNED BY, in every database with mq.")));
		SPI_finish();
	}
}

/* After DROP OWNED and REASSIGN OWNED: the same for mq's objects. */
void
mq_roles_after_utility(Node *parsetree)
{
	Datum		values[2];

	if (IsA(parsetree, DropOwnedStmt) && database_has_mq())
	{
		values[0] = PointerGetDatum(role_array(((DropOwnedStmt *) parsetree)->roles));
		run_role_statement("SELECT mq._drop_owned($1)", 1, values);
	}
	else if (IsA(parsetree, ReassignOwnedStmt) && database_has_mq())
	{
		ReassignOwnedStmt *stmt = (ReassignOwnedStmt *) parsetree;

		values[0] = PointerGetDatum(role_array(stmt->roles));
		values[1] = ObjectIdGetDatum(get_rolespec_oid(stmt->newrole, false));
		run_role_statement("SELECT mq._reassign_owned($1, $2)", 2, values);
	}
}
