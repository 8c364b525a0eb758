/*-------------------------------------------------------------------------
 *
 * manage.c
 *	  The management functions' entry point, the privilege checks their
 *	  bodies ask for, and LISTEN on a queue's channel.
 *
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

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "common/hashfn.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/hsearch.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "queue_limit.h"
#include "manage.h"
#include "privilege.h"
#include "queue.h"
#include "exchange.h"
#include "spi.h"
#include "stream.h"
#include "worker_slot.h"

PG_FUNCTION_INFO_V1(mq_check_privilege_sql);
PG_FUNCTION_INFO_V1(mq_has_privilege_sql);
PG_FUNCTION_INFO_V1(mq_caller_sql);
PG_FUNCTION_INFO_V1(mq_manage);
PG_FUNCTION_INFO_V1(mq_limits_available_sql);
PG_FUNCTION_INFO_V1(mq_limit_stats);
PG_FUNCTION_INFO_V1(mq_maintain_warning);
PG_FUNCTION_INFO_V1(mq_lock_name);

/* the lock of one name, an advisory lock's field4 ("mn") */
#define MQ_LOCKTAG_NAME 0x6d6e

/* a queue's maintenance WARNING is repeated at most once in this period */
#define MQ_WARNING_PERIOD_MS (10 * 60 * 1000)

/* the last maintenance WARNING of each queue, in this backend */
typedef struct MaintainWarning
{
	int32		queue_id;		/* hash key */
	int			sqlerrcode;
	TimestampTz warned_at;
	int64		held_back;		/* the same warnings since, not raised */
} MaintainWarning;

static HTAB *maintain_warnings = NULL;
PG_FUNCTION_INFO_V1(mq_shared_memory_usage);

/* the role that called the management function now running, if any */
static Oid	manage_caller = InvalidOid;

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
	if (strcmp(k, "queue") != 0 && strcmp(k, "exchange") != 0 &&
		strcmp(k, "stream") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid object kind"),
				 errhint("Use \"queue\", \"exchange\" or \"stream\".")));
	if (strcmp(k, "stream") == 0)
	{
		MqStream   *s = palloc(sizeof(MqStream));
		MqAcl	   *acl = palloc(sizeof(MqAcl));

		MemoryContext cxt = CurrentMemoryContext;

		mq_stream_find(PG_GETARG_TEXT_PP(1), s);
		mq_spi_connect();
		mq_load_acl(acl, "stream", s->id, s->owner, cxt);
		SPI_finish();
		*kind = "stream";
		*name = s->name;
		return acl;
	}
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
	/* an alter, a purge, a redrive ... may move the worker's deadlines */
	mq_worker_wake_at_commit();
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

/* mq._limits_available() returns bool: is the shared memory of rate limits there? */

Datum
mq_limits_available_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(mq_limits_available());
}

/*
 * mq._limit_stats(queue_id int, OUT held_back bigint, OUT group_held_back
 * bigint): reads the queue's rate limit held back, and groups its group
 * rate limit held back, since the server started (for mq.metrics())
 */

Datum
mq_limit_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	uint64		held_back;
	uint64		group_held_back;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	mq_limits_stats(PG_GETARG_INT32(0), &held_back, &group_held_back);
	values[0] = Int64GetDatum((int64) held_back);
	values[1] = Int64GetDatum((int64) group_held_back);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * mq._maintain_warning(queue_id, queue_name, sqlstate, message): the
 * WARNING that mq._maintain() skipped a queue for an error.  A worker runs
 * mq.maintain() every second, and a queue whose options make its
 * maintenance fail would fail every time: the same queue's warning for the
 * same error is raised once, then at most once per MQ_WARNING_PERIOD_MS
 * with the number held back in between (the rest go to the log at DEBUG1).
 */
Datum
mq_maintain_warning(PG_FUNCTION_ARGS)
{
	int32		queue_id = PG_GETARG_INT32(0);
	char	   *queue_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *state = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *message = text_to_cstring(PG_GETARG_TEXT_PP(3));
	int			sqlerrcode;
	TimestampTz now = GetCurrentTimestamp();
	MaintainWarning *w;
	bool		found;
	int64		held_back;

	if (strlen(state) != 5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid SQLSTATE \"%.64s\"", state)));
	sqlerrcode = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);
	if (maintain_warnings == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(MaintainWarning);
		ctl.hcxt = TopMemoryContext;
		maintain_warnings = hash_create("mq maintenance warnings", 64, &ctl,
										HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	w = hash_search(maintain_warnings, &queue_id, HASH_ENTER, &found);
	if (found && w->sqlerrcode == sqlerrcode &&
		!TimestampDifferenceExceeds(w->warned_at, now, MQ_WARNING_PERIOD_MS))
	{
		w->held_back++;
		ereport(DEBUG1,
				(errcode(sqlerrcode),
				 errmsg("mq.maintain() skipped queue \"%s\": %s", queue_name, message)));
		PG_RETURN_VOID();
	}
	held_back = found && w->sqlerrcode == sqlerrcode ? w->held_back : 0;
	w->sqlerrcode = sqlerrcode;
	w->warned_at = now;
	w->held_back = 0;
	ereport(WARNING,
			(errcode(sqlerrcode),
			 errmsg("mq.maintain() skipped queue \"%s\": %s", queue_name, message),
			 held_back > 0 ?
			 errdetail("The same warning was held back %lld times since it was last raised.",
					   (long long) held_back) : 0,
			 errhint("Correct the queue's options with mq.alter_queue(); the other queues were maintained.  This warning is repeated at most every 10 minutes.")));
	PG_RETURN_VOID();
}

/*
 * mq._lock_name(namespace, name): the lock that serialises the management
 * of one name -- of queues and streams (namespace 'queue', which they
 * share) or of exchanges ('exchange') -- to the end of the transaction.
 * Creating, altering and dropping take it for their object's name only, so
 * a transaction that made a queue and stays open holds up the management of
 * no other name; the catalog's keys and foreign keys keep the rest
 * consistent (two names may share a lock, by hash: that only serialises
 * them).  A lock of mq's own kind, which no SQL advisory lock can take.
 */
Datum
mq_lock_name(PG_FUNCTION_ARGS)
{
	char	   *ns = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *name = PG_GETARG_TEXT_PP(1);
	uint32		space;
	LOCKTAG		tag;

	if (strcmp(ns, "queue") == 0)
		space = 0;
	else if (strcmp(ns, "exchange") == 0)
		space = 1;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid namespace \"%.64s\"", ns),
				 errhint("Use 'queue' (queues and streams) or 'exchange'.")));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId,
						 hash_bytes((const unsigned char *) VARDATA_ANY(name),
									VARSIZE_ANY_EXHDR(name)),
						 space, MQ_LOCKTAG_NAME);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	PG_RETURN_VOID();
}

/*
 * mq.shared_memory_usage() returns setof (pool text, role regrole, entries
 * int, role_limit int, capacity int): what each role holds of mq's bounded
 * tables in shared memory, with this session's limit per role and the
 * table's size (doc/security.md, "Sharing a server")
 */
Datum
mq_shared_memory_usage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	struct
	{
		const char *pool;
		int			(*counts) (MqRoleCount **out);
		int			setting;
		int			capacity;
	}			pools[] = {
		{"rate buckets", mq_limits_role_counts,
		mq_max_rate_groups_per_role, mq_max_rate_groups},
		{"stream partitions", mq_stream_role_counts,
		mq_max_stream_partitions_per_role, mq_max_stream_partitions},
		{"stream consumers", mq_consumer_role_counts,
		mq_max_stream_consumers_per_role, mq_max_stream_consumers},
		{"group partitions", mq_group_partition_role_counts,
		mq_max_group_partitions_per_role, mq_max_group_partitions},
	};
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < lengthof(pools); i++)
	{
		MqRoleCount *counts;
		int			n = pools[i].counts(&counts);
		int			j;

		for (j = 0; j < n; j++)
		{
			Datum		values[5];
			bool		nulls[5] = {false, false, false, false, false};

			values[0] = CStringGetTextDatum(pools[i].pool);
			values[1] = ObjectIdGetDatum(counts[j].role);
			values[2] = Int32GetDatum(counts[j].count);
			values[3] = Int32GetDatum(mq_quota_limit(pools[i].setting,
													 pools[i].capacity));
			values[4] = Int32GetDatum(pools[i].capacity);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}
