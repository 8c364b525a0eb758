/*-------------------------------------------------------------------------
 *
 * queue_catalog.c
 *	  Queue names, the queue catalog and the per-backend queue cache.
 *
 * A queue is a row in mq._queue plus two tables named from its id:
 * mq.q_<id> (the messages) and mq.a_<id> (the archive).  Creating, altering
 * and dropping queues is rare and done in SQL (mq--*.sql); this file gives
 * the hot path a cheap way from a queue name to its id, options and kept
 * plans.
 *
 * Each backend keeps a hash table of the queues it has used.  A statement
 * trigger on mq._queue calls CacheInvalidateRelcache() on the catalog for
 * every change, and our relcache callback marks the whole cache stale; the
 * next lookup throws it away (freeing the kept plans) and starts afresh.
 * Invalidation is transactional, so a rolled-back create or drop never
 * leaves a stale entry, and other backends see a change as soon as they
 * process the committed invalidation (at their next transaction start or
 * lock acquisition).
 *
 * A queue with a dead-letter queue notes that queue's bounds and whether
 * its own owner may still send to it (send or manage): privileges are
 * checked where dead letters move (queue_statement.c), and the entry goes
 * when grants, role memberships or superuser status change.
 *
 * Names are validated here, before they are used anywhere: 1 to 48
 * characters of [A-Za-z0-9_.-].  User text never becomes SQL text: tables
 * are named from the queue id.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "args.h"
#include "queue.h"
#include "spi.h"
#include "worker_slot.h"

PG_FUNCTION_INFO_V1(mq_check_name_sql);
PG_FUNCTION_INFO_V1(mq_queue_id_sql);
PG_FUNCTION_INFO_V1(mq_catalog_changed);

static HTAB *queue_cache = NULL;
static MemoryContext queue_cache_cxt = NULL;
static bool queue_cache_valid = false;
static Oid	catalog_relid = InvalidOid;
static Oid	privilege_relid = InvalidOid;
static SPIPlanPtr lookup_plan = NULL;

static void
queue_cache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == catalog_relid || relid == privilege_relid)
		queue_cache_valid = false;
}

/* role memberships and superuser status decide where dead letters may go */
static void
queue_role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	queue_cache_valid = false;
}

/* Throw away every cached queue and its kept plans, and start afresh. */
static void
queue_cache_reset(void)
{
	HASHCTL		ctl;

	if (queue_cache_cxt == NULL)
	{
		queue_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
												"mq queue cache",
												ALLOCSET_DEFAULT_SIZES);
		CacheRegisterRelcacheCallback(queue_cache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, queue_role_callback,
									  (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, queue_role_callback, (Datum) 0);
	}

	if (queue_cache != NULL)
	{
		HASH_SEQ_STATUS status;
		MqQueue    *q;

		hash_seq_init(&status, queue_cache);
		while ((q = hash_seq_search(&status)) != NULL)
			if (q->storage != NULL && q->release_storage != NULL)
				q->release_storage(q->storage);
		queue_cache = NULL;
		/* the hash table and the grants live in here */
		MemoryContextReset(queue_cache_cxt);
	}
	mq_forget_extension_owner();
	if (lookup_plan != NULL)
	{
		SPI_freeplan(lookup_plan);
		lookup_plan = NULL;
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = MQ_NAME_MAXLEN + 1;
	ctl.entrysize = sizeof(MqQueue);
	ctl.hcxt = queue_cache_cxt;
	queue_cache = hash_create("mq queue cache", 64, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	queue_cache_valid = true;
	catalog_relid = get_relname_relid("_queue", get_namespace_oid("mq", false));
	privilege_relid = get_relname_relid("_privilege", get_namespace_oid("mq", false));
}

/*
 * The memory of the queue cache: storage keeps its part of entries there.
 * It exists while there are entries (and is not reset here: the caller
 * holds one).
 */
MemoryContext
mq_queue_cache_context(void)
{
	Assert(queue_cache_cxt != NULL);
	return queue_cache_cxt;
}

/*
 * The standbys a send needs: min_replicas of a 'replicated' row (0.8.0), 0
 * for 'local' or before the update.
 */
static int32
durability_column(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d = mq_spi_column(tup, desc, "durability", &isnull);
	int32		n;

	if (isnull || strcmp(TextDatumGetCString(d), "replicated") != 0)
		return 0;
	n = DatumGetInt32(mq_spi_column(tup, desc, "min_replicas", &isnull));
	return isnull ? 1 : Max(n, 1);
}

/*
 * Read q's grants and note what its dead letters need to know of its
 * dead-letter queue: its name, bounds and grants, and whether q's owner may
 * send to it.  Under SPI; in cxt.
 */
static void
load_grants(MqQueue *q, Oid owner, MemoryContext cxt)
{
	Oid			argtype = INT4OID;
	Datum		arg = Int32GetDatum(q->dead_letter_queue_id);
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	MqAcl		acl;
	int			ret;

	mq_load_acl(&q->acl, "queue", q->id, owner, cxt);
	if (q->dead_letter_queue_id == 0)
		return;
	ret = mq_execute_as_owner("SELECT queue_name, owner,"
							  " coalesce(max_length, 0), overflow"
							  " FROM mq._queue"
							  " WHERE queue_id OPERATOR(pg_catalog.=) $1",
							  1, &argtype, &arg, NULL, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		q->dead_letter_queue_id = 0;	/* cannot happen: foreign key */
		return;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	strlcpy(q->dead_letter_queue, SPI_getvalue(tup, desc, 1),
			sizeof(q->dead_letter_queue));
	acl.owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	q->dead_letter_max_length = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	q->dead_letter_drop_head = strcmp(SPI_getvalue(tup, desc, 4), "drop_head") == 0;
	mq_load_acl(&acl, "queue", q->dead_letter_queue_id, acl.owner, cxt);
	q->dead_letter_allowed = mq_acl_allows(&acl, q->acl.owner,
										   MQ_PRIV_SEND | MQ_PRIV_MANAGE);
}

/*
 * Find a queue by name: validate the name, then look in the cache, then in
 * the catalog.  An unknown queue is an error.
 */
MqQueue *
mq_queue_lookup(text *name)
{
	char		key[MQ_NAME_MAXLEN + 1];
	MqQueue    *q;
	bool		found;
	Datum		arg;
	char		argnull = ' ';
	int			ret;
	bool		isnull;
	MqQueue		loaded;
	HeapTuple	tup;
	TupleDesc	desc;
	MemoryContext caller = CurrentMemoryContext;
	MqGrant    *grants;
	Oid			owner;

	mq_name_key("queue", name, key);
	mq_worker_wake_at_commit(); /* a write may move the worker's deadline */

	if (!queue_cache_valid)
		queue_cache_reset();

	q = hash_search(queue_cache, key, HASH_FIND, NULL);
	if (q != NULL)
		return q;

	/* not cached: read the catalog */
	mq_spi_connect();
	if (lookup_plan == NULL)
	{
		Oid			argtype = TEXTOID;

		/*
		 * The whole row, read by column name: a library newer than the
		 * extension's SQL (before ALTER EXTENSION UPDATE) finds the
		 * options it knows of, and the kept plan sees columns that an
		 * update adds (a revalidated plan expands * again).
		 */
		lookup_plan = mq_keep_plan("SELECT q.* FROM mq._queue q"
						   " WHERE q.queue_name OPERATOR(pg_catalog.=) $1",
						   1, &argtype);
	}
	arg = PointerGetDatum(name);
	ret = mq_execute_plan_as_owner(lookup_plan, &arg, &argnull, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", key),
				 errhint("Create it with mq.create_queue().")));

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	memset(&loaded, 0, sizeof(loaded));
	loaded.id = DatumGetInt32(mq_spi_column(tup, desc, "queue_id", &isnull));
	loaded.visibility_timeout = *DatumGetIntervalP(mq_spi_column(tup, desc, "visibility_timeout", &isnull));
	loaded.archive = DatumGetBool(mq_spi_column(tup, desc, "archive", &isnull));
	loaded.max_receives = DatumGetInt32(mq_spi_column(tup, desc, "max_receives", &isnull));
	if (isnull)
		loaded.max_receives = 0;
	loaded.dead_letter_queue_id = DatumGetInt32(mq_spi_column(tup, desc, "dead_letter_queue_id", &isnull));
	if (isnull)
		loaded.dead_letter_queue_id = 0;
	{
		Datum		ttl = mq_spi_column(tup, desc, "message_ttl", &isnull);

		loaded.has_ttl = !isnull;
		if (!isnull)
			loaded.message_ttl = *DatumGetIntervalP(ttl);
	}
	loaded.max_length = DatumGetInt64(mq_spi_column(tup, desc, "max_length", &isnull));
	if (isnull)
		loaded.max_length = 0;
	loaded.drop_head = strcmp(TextDatumGetCString(mq_spi_column(tup, desc, "overflow", &isnull)),
							  "drop_head") == 0;
	loaded.fifo = DatumGetBool(mq_spi_column(tup, desc, "fifo", &isnull));
	loaded.dedup_window = *DatumGetIntervalP(mq_spi_column(tup, desc, "dedup_window", &isnull));
	loaded.notify = DatumGetBool(mq_spi_column(tup, desc, "notify", &isnull));
	/* 0.4.0's options: absent (NULL, so 0 and false) before the update */
	loaded.fair = DatumGetBool(mq_spi_column(tup, desc, "fair", &isnull));
	loaded.group_concurrency = DatumGetInt32(mq_spi_column(tup, desc, "group_concurrency", &isnull));
	if (isnull)
		loaded.group_concurrency = 0;
	loaded.rate.limit = DatumGetInt32(mq_spi_column(tup, desc, "rate_limit", &isnull));
	if (isnull)
		loaded.rate.limit = 0;
	{
		Datum		d = mq_spi_column(tup, desc, "rate_interval", &isnull);
		Interval   *iv = isnull ? NULL : DatumGetIntervalP(d);

		loaded.rate.interval_us = iv == NULL ? USECS_PER_SEC : iv->time +
			(iv->day + (int64) iv->month * DAYS_PER_MONTH) * USECS_PER_DAY;
	}
	loaded.group_rate.limit = DatumGetInt32(mq_spi_column(tup, desc, "group_rate_limit", &isnull));
	if (isnull)
		loaded.group_rate.limit = 0;
	loaded.group_rate.interval_us = loaded.rate.interval_us;
	loaded.min_replicas = durability_column(tup, desc);
	owner = DatumGetObjectId(mq_spi_column(tup, desc, "owner", &isnull));
	/* in the caller's memory: the cache's may be reset below */
	load_grants(&loaded, owner, caller);
	SPI_finish();

	/*
	 * The catalog reads may have processed an invalidation, which resets
	 * the cache and its memory: only now is the entry made, complete, with
	 * its grants copied into the cache's memory.
	 */
	if (!queue_cache_valid)
		queue_cache_reset();
	grants = MemoryContextAlloc(queue_cache_cxt,
								sizeof(MqGrant) * (loaded.acl.ngrants + 1));
	memcpy(grants, loaded.acl.grants, sizeof(MqGrant) * loaded.acl.ngrants);
	loaded.acl.grants = grants;
	memcpy(loaded.name, key, sizeof(key));
	q = hash_search(queue_cache, key, HASH_ENTER, &found);
	Assert(!found);
	memcpy(q, &loaded, sizeof(MqQueue));
	return q;
}

/* mq._check_name(name text, kind text) returns void */
Datum
mq_check_name_sql(PG_FUNCTION_ARGS)
{
	char	   *kind = PG_ARGISNULL(1) ? "queue" : text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s name must not be null", kind)));
	mq_check_name(kind, PG_GETARG_TEXT_PP(0));
	PG_RETURN_VOID();
}

/* mq._queue_id(queue text) returns int: the id, or an error */
Datum
mq_queue_id_sql(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queue name must not be null")));
	PG_RETURN_INT32(mq_queue_lookup(PG_GETARG_TEXT_PP(0))->id);
}

/* statement trigger on mq._queue: every change invalidates the caches */
Datum
mq_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mq._catalog_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
