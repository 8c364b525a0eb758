/*-------------------------------------------------------------------------
 *
 * privilege.c
 *	  Per-queue and per-exchange privileges, and running SQL as the
 *	  extension's owner.
 *
 * mq's tables (the catalog and every queue's tables) belong to the owner of
 * the extension and are closed to everybody else.  Roles reach them only
 * through mq's functions, which check mq's own privileges first:
 *
 *	queues		send (send, send_batch), read (read, pop, ack, nack, set_vt,
 *				archive), manage (alter, purge, drop, bind, grant)
 *	exchanges	publish, manage (drop, bind, grant)
 *
 * The creator of a queue or exchange and superusers hold every privilege;
 * others get them with mq.grant() (to a role, whose members then hold them
 * too, or to PUBLIC).  The grants are rows of mq._privilege, cached with
 * the queue (queue.c) or exchange (routing.c) and invalidated with them.
 *
 * After the check, the hot path runs its statements as the extension owner
 * (SetUserIdAndSecContext around SPI_execute_plan, as SECURITY DEFINER does
 * but only where needed); an error unwinds the change with the transaction.
 * The management functions (mq.create_queue(), mq.grant() and the rest)
 * are C entry points, mq_manage(): each records the role that called it --
 * the current user, as the hot path checks, so that a SECURITY DEFINER
 * function or an index expression that calls mq counts as its owner, not
 * as the session's user -- and then runs its body, mq._create_queue(),
 * mq._grant() and so on: SQL of the extension's owner, SECURITY DEFINER with
 * a fixed search_path, that PUBLIC may not call.  The bodies ask about the
 * recorded role with mq._caller(), mq._check_privilege() and
 * mq._has_privilege().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "privilege.h"
#include "queue.h"
#include "routing.h"

PG_FUNCTION_INFO_V1(mq_check_privilege_sql);
PG_FUNCTION_INFO_V1(mq_has_privilege_sql);
PG_FUNCTION_INFO_V1(mq_caller_sql);
PG_FUNCTION_INFO_V1(mq_manage);

static Oid	extension_owner = InvalidOid;

/* the role that called the management function now running, if any */
static Oid	manage_caller = InvalidOid;

int
mq_privilege_bits(const char *name)
{
	if (strcmp(name, "send") == 0)
		return MQ_PRIV_SEND;
	if (strcmp(name, "read") == 0)
		return MQ_PRIV_READ;
	if (strcmp(name, "manage") == 0)
		return MQ_PRIV_MANAGE;
	if (strcmp(name, "publish") == 0)
		return MQ_PRIV_PUBLISH;
	if (strcmp(name, "any") == 0)
		return MQ_PRIV_ANY;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid privilege \"%.64s\"", name),
			 errhint("Queues have the privileges send, read and manage; exchanges publish and manage.")));
	return 0;
}

static const char *
privilege_names(int privs)
{
	if (privs == MQ_PRIV_SEND)
		return "send";
	if (privs == MQ_PRIV_READ)
		return "read";
	if (privs == MQ_PRIV_MANAGE)
		return "manage";
	if (privs == MQ_PRIV_PUBLISH)
		return "publish";
	return "any";
}

Oid
mq_extension_owner(void)
{
	if (!OidIsValid(extension_owner))
	{
		Oid			extoid = get_extension_oid("mq", false);
		Relation	rel;
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;

		rel = table_open(ExtensionRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(extoid));
		scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
		tup = systable_getnext(scan);
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "extension mq not found");
		extension_owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	return extension_owner;
}

void
mq_forget_extension_owner(void)
{
	extension_owner = InvalidOid;
}

/*
 * Prepare a statement of mq's own, with a generic plan (none of them needs
 * a custom one), and keep it for the life of the backend or until the caller
 * frees it.  The caller is connected to SPI.
 */
SPIPlanPtr
mq_keep_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes,
										  CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* Switch to the extension owner; the caller switches back with restore. */
static void
become_owner(Oid *saved_user, int *saved_context)
{
	GetUserIdAndSecContext(saved_user, saved_context);
	SetUserIdAndSecContext(mq_extension_owner(),
						   *saved_context | SECURITY_LOCAL_USERID_CHANGE);
}

int
mq_execute_plan_as_owner(SPIPlanPtr plan, Datum *values, const char *nulls,
						 long count)
{
	Oid			saved_user;
	int			saved_context;
	int			ret;

	become_owner(&saved_user, &saved_context);
	ret = SPI_execute_plan(plan, values, nulls, false, count);
	SetUserIdAndSecContext(saved_user, saved_context);
	return ret;
}

int
mq_execute_as_owner(const char *sql, int nargs, Oid *argtypes, Datum *values,
					const char *nulls, long count)
{
	Oid			saved_user;
	int			saved_context;
	int			ret;

	become_owner(&saved_user, &saved_context);
	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, count);
	SetUserIdAndSecContext(saved_user, saved_context);
	return ret;
}

/*
 * Run sql as the extension owner with the latest snapshot, read only (see
 * roles.c).  The caller is connected to SPI.
 */
int
mq_execute_latest_as_owner(const char *sql, int nargs, Oid *argtypes,
						   Datum *values)
{
	Oid			saved_user;
	int			saved_context;
	SPIPlanPtr	plan;
	int			ret;

	become_owner(&saved_user, &saved_context);
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	ret = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
							   InvalidSnapshot, true, false, 0);
	SetUserIdAndSecContext(saved_user, saved_context);
	return ret;
}

/*
 * Run sql as the extension owner, and as a management function's body
 * would run with the extension owner as its caller: for what mq does on
 * PostgreSQL's behalf, once PostgreSQL has checked the permissions (DROP
 * OWNED, REASSIGN OWNED).  The caller is connected to SPI.
 */
int
mq_execute_as_manager(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	Oid			saved_caller = manage_caller;
	int			ret;

	manage_caller = mq_extension_owner();
	PG_TRY();
	{
		ret = mq_execute_as_owner(sql, nargs, argtypes, values, NULL, 0);
	}
	PG_FINALLY();
	{
		manage_caller = saved_caller;
	}
	PG_END_TRY();
	return ret;
}

/*
 * Read the grants on one object into acl, allocated in cxt.  The caller is
 * connected to SPI.
 */
void
mq_load_acl(MqAcl *acl, const char *object_type, int32 object_id, Oid owner,
			MemoryContext cxt)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	int			ret;
	uint64		i;

	values[0] = CStringGetTextDatum(object_type);
	values[1] = Int32GetDatum(object_id);
	ret = mq_execute_as_owner("SELECT grantee, privilege FROM mq._privilege"
							  " WHERE object_type OPERATOR(pg_catalog.=) $1"
							  " AND object_id OPERATOR(pg_catalog.=) $2",
							  2, argtypes, values, NULL, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));

	acl->owner = owner;
	acl->ngrants = 0;
	acl->grants = MemoryContextAlloc(cxt, sizeof(MqGrant) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			grantee = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc,
															 1, &isnull));
		char	   *priv = SPI_getvalue(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 2);

		acl->grants[acl->ngrants].grantee = grantee;
		acl->grants[acl->ngrants].privs = mq_privilege_bits(priv);
		acl->ngrants++;
	}
}

/* May role do any of privs? */
bool
mq_acl_allows(const MqAcl *acl, Oid role, int privs)
{
	int			i;

	if (role == acl->owner || superuser_arg(role))
		return true;
	for (i = 0; i < acl->ngrants; i++)
	{
		const MqGrant *g = &acl->grants[i];

		if ((g->privs & privs) == 0)
			continue;
		if (!OidIsValid(g->grantee) || has_privs_of_role(role, g->grantee))
			return true;
	}
	return false;
}

void
mq_acl_check(const MqAcl *acl, const char *kind, const char *name, Oid role,
			 int privs)
{
	if (mq_acl_allows(acl, role, privs))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s \"%s\"", kind, name),
			 privs == MQ_PRIV_ANY ?
			 errdetail("Role \"%s\" holds no privilege on %s \"%s\".",
					   GetUserNameFromId(role, false), kind, name) :
			 errdetail("Role \"%s\" lacks the %s privilege on %s \"%s\".",
					   GetUserNameFromId(role, false), privilege_names(privs),
					   kind, name),
			 errhint("The owner of the %s or a superuser can grant it with mq.grant%s().",
					 kind, strcmp(kind, "queue") == 0 ? "" : "_exchange")));
}

/*
 * The object and the acl that the SQL-level checks ask about; kind is
 * 'queue' or 'exchange'.
 */
static const MqAcl *
sql_acl(FunctionCallInfo fcinfo, const char **kind, const char **name)
{
	char	   *k;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("object kind, name and privilege must not be null")));
	k = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strcmp(k, "queue") != 0 && strcmp(k, "exchange") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid object kind"),
				 errhint("Use \"queue\" or \"exchange\".")));
	if (strcmp(k, "queue") == 0)
	{
		MqQueue    *q = mq_queue_lookup(PG_GETARG_TEXT_PP(1));

		*kind = "queue";
		*name = q->name;
		return &q->acl;
	}
	*kind = "exchange";
	return mq_exchange_acl(PG_GETARG_TEXT_PP(1), name);
}

/*
 * The role that called the management function now running.  Outside one
 * (only the extension's owner may call the bodies directly, and 0.1.0's
 * SECURITY DEFINER functions run until ALTER EXTENSION UPDATE) it is the
 * session's role, as 0.1.0 had it.
 */
static Oid
caller(void)
{
	return OidIsValid(manage_caller) ? manage_caller : GetOuterUserId();
}

/* The body of management function fn: mq._<name>, with the same arguments. */
static Oid
manage_body(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	List	   *name;
	Oid			body;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	name = list_make2(makeString(get_namespace_name(proc->pronamespace)),
					  makeString(psprintf("_%s", NameStr(proc->proname))));
	body = LookupFuncName(name, proc->pronargs, proc->proargtypes.values, false);
	ReleaseSysCache(tup);
	return body;
}

/*
 * mq_manage: the C entry point of every management function.  It passes
 * its call on to the body, a set-returning call included (the body fills
 * in the caller's ReturnSetInfo), and records the current user as the
 * caller while the body runs.  Calling the body through fmgr needs no
 * EXECUTE privilege on it; its SECURITY DEFINER and search_path apply.
 */
Datum
mq_manage(PG_FUNCTION_ARGS)
{
	FmgrInfo   *self = fcinfo->flinfo;
	FmgrInfo   *body = self->fn_extra;
	Oid			saved_caller = manage_caller;
	Datum		result;

	if (body == NULL)
	{
		body = MemoryContextAllocZero(self->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_cxt(manage_body(self->fn_oid), body, self->fn_mcxt);
		body->fn_expr = self->fn_expr;
		self->fn_extra = body;
	}

	manage_caller = GetUserId();
	fcinfo->flinfo = body;
	PG_TRY();
	{
		result = FunctionCallInvoke(fcinfo);
	}
	PG_FINALLY();
	{
		fcinfo->flinfo = self;
		manage_caller = saved_caller;
	}
	PG_END_TRY();
	return result;
}

/*
 * From the utility hook: LISTEN on a queue's channel, "mq.<queue>", needs
 * the read privilege on the queue, and the queue must exist (so nobody can
 * listen to the channel of a queue before it is created).  LISTEN is open
 * to every role in PostgreSQL, and a listener learns when messages arrive.
 * NOTIFY cannot be checked as well (pg_notify() is a function), so any role
 * can still send a queue's listeners a wakeup for nothing.
 */
void
mq_privilege_before_utility(Node *parsetree)
{
	const char *channel;
	MqQueue    *q;

	if (!IsA(parsetree, ListenStmt))
		return;
	channel = ((ListenStmt *) parsetree)->conditionname;
	if (strncmp(channel, "mq.", 3) != 0 || !IsTransactionState() ||
		!OidIsValid(get_extension_oid("mq", true)))
		return;
	q = mq_queue_lookup(cstring_to_text(channel + 3));
	mq_acl_check(&q->acl, "queue", q->name, GetUserId(), MQ_PRIV_READ);
}

/*
 * mq._check_privilege(kind text, name text, privilege text) returns void:
 * for the management functions' bodies, so it asks about the role that
 * called the management function.
 */
Datum
mq_check_privilege_sql(PG_FUNCTION_ARGS)
{
	const char *kind;
	const char *name;
	const MqAcl *acl = sql_acl(fcinfo, &kind, &name);

	mq_acl_check(acl, kind, name, caller(),
				 mq_privilege_bits(text_to_cstring(PG_GETARG_TEXT_PP(2))));
	PG_RETURN_VOID();
}

/* mq._has_privilege(kind text, name text, privilege text) returns bool */
Datum
mq_has_privilege_sql(PG_FUNCTION_ARGS)
{
	const char *kind;
	const char *name;
	const MqAcl *acl = sql_acl(fcinfo, &kind, &name);

	PG_RETURN_BOOL(mq_acl_allows(acl, caller(),
								 mq_privilege_bits(text_to_cstring(PG_GETARG_TEXT_PP(2)))));
}

/* mq._caller() returns oid: the role that called the management function */
Datum
mq_caller_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(caller());
}
