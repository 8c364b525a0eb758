/*-------------------------------------------------------------------------
 *
 * queue_compact.c
 *	  Reclaiming a queue's message table by TRUNCATE (mq.compact_queue()
 *	  and the worker).  See src/README.md ("Compaction").
 *
 *	  Every lease is an UPDATE and every ack a DELETE; while another
 *	  session holds a snapshot, vacuum may remove none of the row versions
 *	  they leave, and the table grows for as long as the snapshot is held.
 *	  A compaction takes the table's ACCESS EXCLUSIVE lock, so no other
 *	  transaction is sending, leasing or acking in it; reads the rows that
 *	  a snapshot taken after the lock sees (every message as it is now,
 *	  leases, receive counts and ids included); truncates the table (a new,
 *	  empty file) and inserts those rows back, in one transaction.  The old
 *	  file, with every dead version in it, goes when that transaction
 *	  commits, whatever snapshots are held; if it rolls back, nothing has
 *	  changed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "queue_compact.h"
#include "guc.h"
#include "queue_hint.h"
#include "queue.h"
#include "spi.h"
#include "queue_int.h"

PG_FUNCTION_INFO_V1(mq_compact_queue);

/* the queue's message table, or InvalidOid */
static Oid
message_table(int32 queue_id)
{
	char		relname[NAMEDATALEN];

	snprintf(relname, sizeof(relname), "q_%d", queue_id);
	return get_relname_relid(relname, get_namespace_oid("mq", false));
}

/*
 * Take relid's ACCESS EXCLUSIVE lock: wait_ms < 0 waits as any lock does
 * (lock_timeout applies); otherwise without waiting, then (wait_ms > 0) in
 * a subtransaction with lock_timeout = wait_ms.  The lock request waits in
 * the queue, so the sessions that come after it wait too, for at most
 * wait_ms.
 */
static bool
lock_table(Oid relid, int wait_ms)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool locked = true;

	if (wait_ms < 0)
	{
		LockRelationOid(relid, AccessExclusiveLock);
		return true;
	}
	if (ConditionalLockRelationOid(relid, AccessExclusiveLock))
		return true;
	if (wait_ms == 0)
		return false;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		char		value[32];
		int			nest = NewGUCNestLevel();

		snprintf(value, sizeof(value), "%d", wait_ms);
		(void) set_config_option("lock_timeout", value, PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		LockRelationOid(relid, AccessExclusiveLock);
		/* lock_timeout goes back; the lock moves up to the transaction */
		AtEOXact_GUC(true, nest);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(edata);
		RollbackAndReleaseCurrentSubTransaction();
		locked = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return locked;
}

/*
 * Compact queue queue_id's table, whose lock the caller holds; -1 when it
 * holds more than max_rows messages (0: any number) or has triggers of
 * somebody else's (re-inserting would fire them), else the number kept.
 */
static int64
compact_locked(int32 queue_id, Oid relid, int64 max_rows)
{
	Relation	rel = table_open(relid, NoLock);
	Oid			rowtype = RelationGetForm(rel)->reltype;
	bool		foreign = mq_queue_foreign_triggers(rel);
	int64		kept;
	Datum		rows;
	bool		isnull;
	char	   *sql;
	Oid			argtype;

	table_close(rel, NoLock);
	if (foreign)
		return -1;

	mq_spi_connect();

	/*
	 * The rows as a snapshot newer than the lock sees them: every transaction
	 * that wrote in the table before has ended, so this is every message,
	 * exactly as it is (a lease's vt and read_ct too).
	 */
	if (max_rows > 0)
		sql = psprintf("SELECT pg_catalog.array_agg(s.m), pg_catalog.count(*)"
					   " FROM (SELECT m FROM mq.q_%d m LIMIT " INT64_FORMAT ") s",
					   queue_id, max_rows + 1);
	else
		sql = psprintf("SELECT pg_catalog.array_agg(m), pg_catalog.count(*) FROM mq.q_%d m",
					   queue_id);
	if (mq_execute_latest_as_owner(sql, 0, NULL, NULL) != SPI_OK_SELECT)
		elog(ERROR, "compaction: the copy of mq.q_%d failed", queue_id);
	kept = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (max_rows > 0 && kept > max_rows)
	{
		SPI_finish();
		return -1;
	}
	rows = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

	if (mq_execute_as_owner(psprintf("TRUNCATE mq.q_%d", queue_id), 0, NULL, NULL,
							NULL, 0) != SPI_OK_UTILITY)
		elog(ERROR, "compaction: TRUNCATE of mq.q_%d failed", queue_id);
	if (!isnull)
	{
		argtype = get_array_type(rowtype);
		if (!OidIsValid(argtype))
			elog(ERROR, "compaction: mq.q_%d has no array type", queue_id);
		if (mq_execute_as_owner(psprintf("INSERT INTO mq.q_%d SELECT u.* FROM pg_catalog.unnest($1) u",
										 queue_id), 1, &argtype, &rows, NULL, 0) != SPI_OK_INSERT ||
			(int64) SPI_processed != kept)
			elog(ERROR, "compaction: the copy back into mq.q_%d failed", queue_id);
	}
	SPI_finish();

	/*
	 * The rows kept were all after the scan hint (every entry before it was
	 * dead); the insert's statement trigger resets the hint all the same.
	 */
	mq_hint_reset(queue_id);
	return kept;
}

/*
 * mq.compact_queue(queue) returns bigint: compact now, waiting for the lock
 * as any statement does; the number of messages kept.
 */
Datum
mq_compact_queue(PG_FUNCTION_ARGS)
{
	MqQueue    *q;
	int32		queue_id;
	Oid			relid;
	int64		kept;

	mq_require_primary_fn(fcinfo);
	if (PG_ARGISNULL(0))
		mq_null_argument("queue name");
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mq.compact_queue() cannot run in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("It copies the messages as a snapshot taken after its lock sees them; the transaction's older snapshot would bring back messages acked since."),
				 errhint("Compact in a READ COMMITTED transaction.")));
	q = mq_queue_lookup(PG_GETARG_TEXT_PP(0));
	mq_acl_check(&q->acl, "queue", q->name, GetUserId(), MQ_PRIV_MANAGE);
	queue_id = q->id;
	relid = message_table(queue_id);
	if (!OidIsValid(relid))
		elog(ERROR, "the table of queue \"%s\" is missing", q->name);
	(void) lock_table(relid, -1);
	if ((kept = compact_locked(queue_id, relid, 0)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("queue \"%s\" cannot be compacted: its table has triggers", q->name),
				 errdetail("Compaction inserts the messages again, which would fire them."),
				 errhint("Drop the triggers on mq.q_%d.", queue_id)));
	PG_RETURN_INT64(kept);
}

/*
 * The queues whose tables hold at least mq.compact_threshold dead row
 * versions, no fewer than their live rows, and at most mq.compact_max_rows
 * live ones (the statistics' estimates: the counts themselves would walk
 * the dead versions), and have no triggers of somebody else's: the worker
 * would take their lock, only to pass them by.
 */
List *
mq_compact_candidates(List **overdue)
{
	List	   *ids = NIL;
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];
	MemoryContext cxt = CurrentMemoryContext;
	uint64		i;

	*overdue = NIL;
	if (mq_compact_threshold <= 0)
		return NIL;
	values[0] = Int64GetDatum(mq_compact_threshold);
	values[1] = Int64GetDatum(mq_compact_max_rows);
	mq_spi_connect();
	if (mq_execute_as_owner("SELECT q.queue_id,"
							" pg_catalog.pg_stat_get_dead_tuples(c.oid) OPERATOR(pg_catalog.>=) (2 OPERATOR(pg_catalog.*) $1)"
							" FROM mq._queue q JOIN pg_catalog.pg_class c"
							" ON c.relname OPERATOR(pg_catalog.=) ('q_' OPERATOR(pg_catalog.||) q.queue_id)::pg_catalog.name"
							" AND c.relnamespace OPERATOR(pg_catalog.=) 'mq'::pg_catalog.regnamespace"
							" WHERE pg_catalog.pg_stat_get_dead_tuples(c.oid) OPERATOR(pg_catalog.>=) $1"
							" AND pg_catalog.pg_stat_get_dead_tuples(c.oid) OPERATOR(pg_catalog.>=) pg_catalog.pg_stat_get_live_tuples(c.oid)"
							" AND pg_catalog.pg_stat_get_live_tuples(c.oid) OPERATOR(pg_catalog.<=) $2"
							" AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t"
							" WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid"
							" AND t.tgname OPERATOR(pg_catalog.<>) '" MQ_TABLE_TRIGGER "')"
							" ORDER BY q.queue_id",
							2, argtypes, values, NULL, 0) != SPI_OK_SELECT)
		elog(ERROR, "compaction: the look-up of queues failed");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int32		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		bool		over = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		MemoryContext old = MemoryContextSwitchTo(cxt);

		ids = lappend_int(ids, id);
		if (over)
			*overdue = lappend_int(*overdue, id);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return ids;
}

bool
mq_compact_queue_id(int32 queue_id, int wait_ms)
{
	Oid			relid = message_table(queue_id);

	if (!OidIsValid(relid) || !lock_table(relid, wait_ms))
		return false;
	/* dropped while we waited? */
	if (message_table(queue_id) != relid)
		return false;
	return compact_locked(queue_id, relid, mq_compact_max_rows) >= 0;
}
