/*-------------------------------------------------------------------------
 *
 * queue_table.c
 *	  The tables of one queue as the other queue files use them: storage's
 *	  part of a cached queue (the kept plans, the looked-up relation and
 *	  index oids), opening the message table for the access-method path and
 *	  deciding when that path may run (no foreign triggers, the expected
 *	  layout, mq.direct_access), telling the scan hint of inserts, and the
 *	  statement trigger that resets it when somebody else writes.  The layout
 *	  is in queue_int.h; the design in src/README.md ("Storage").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "guc.h"
#include "queue_hint.h"
#include "queue_int.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(mq_table_changed);

/*
 * true while one of mq's own statements runs (queue_statement.c sets it):
 * mq_table_changed ignores those
 */
bool		mq_queue_own_statement = false;

/* Free storage's part of a cached queue: its kept plans (queue_catalog.c calls it). */
static void
storage_release(MqStorage *st)
{
	int			i;

	for (i = 0; i < MQ_NUM_PLANS; i++)
		if (st->plans[i] != NULL)
			SPI_freeplan(st->plans[i]);
}

/* Storage's part of cached queue q, made on first use. */
MqStorage *
mq_queue_state(MqQueue *q)
{
	if (q->storage == NULL)
	{
		q->storage = MemoryContextAllocZero(mq_queue_cache_context(),
											sizeof(MqStorage));
		q->release_storage = storage_release;
	}
	return q->storage;
}

/*
 * Lock q's message table for the rest of the transaction, as a statement
 * on it would, and check that it still exists: a drop_queue() that
 * committed after we looked the queue up, or while we waited for the lock,
 * has removed it.  Every entry point below calls this first, so a
 * concurrent drop gives the usual error, never an internal one, and the
 * plans kept for the queue never meet a missing table.
 */
void
mq_queue_lock_queue(MqQueue *q)
{
	if (!OidIsValid(mq_queue_state(q)->relid))
		mq_queue_state(q)->relid = get_relname_relid(psprintf("q_%d", q->id),
									 get_namespace_oid("mq", false));
	if (OidIsValid(mq_queue_state(q)->relid))
	{
		LockRelationOid(mq_queue_state(q)->relid, RowExclusiveLock);
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(mq_queue_state(q)->relid)))
			return;
		UnlockRelationOid(mq_queue_state(q)->relid, RowExclusiveLock);
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("queue \"%s\" does not exist", q->name),
			 errdetail("It was dropped while this call was under way."),
			 errhint("Create it with mq.create_queue().")));
}

/*
 * Has q's message table the columns from payload on (0.8.0)?  Not while
 * this library serves a database whose extension is not yet updated: its
 * statements then leave them out (queue_statement.c).  The kept plans were
 * built for one layout; the update that adds the columns also alters
 * mq._queue, which resets every backend's queue cache and with it the plans
 * (a later update that changed only the message tables would have to do the
 * same).
 */
bool
mq_queue_has_properties(MqQueue *q)
{
	mq_queue_lock_queue(q);
	return get_attnum(mq_queue_state(q)->relid, "sent_by") != InvalidAttrNumber;
}

/*
 * Rows at or after (priority, msg_id) were just inserted into q's table:
 * readers must not start past them (queue_hint.c).
 */
void
mq_queue_inserted(MqQueue *q, int32 priority, int64 msg_id)
{
	MqKey		key;

	key.priority = priority;
	key.msg_id = msg_id;
	mq_hint_lower(q->id, &key);
}

/*
 * now minus an interval of a queue's options.  One longer than mq allows
 * (kept from 0.1.0, which did not check) reaches back to the beginning of
 * time: nothing is that old.
 */
TimestampTz
mq_queue_time_before(TimestampTz now, Interval *iv)
{
	if (mq_interval_too_long(iv))
		return DT_NOBEGIN;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
												   TimestampTzGetDatum(now),
												   IntervalPGetDatum(iv)));
}

/*
 * Rows were put into q's table by SQL that mq does not see (mq.redrive()):
 * readers must look from the start of the queue, and waiting ones (and, for
 * a queue with notify, listeners) hear of it at commit.
 */
void
mq_queue_announce(MqQueue *q)
{
	mq_hint_reset(q->id);
	mq_wake_queue_at_commit(q->id, true);
}

/*
 * mq._table_changed(): an AFTER INSERT OR UPDATE statement trigger on every
 * message table.  Rows that mq's own statements write move the scan hint
 * themselves (and the direct path fires no triggers); rows that somebody
 * else writes -- an INSERT by hand, an UPDATE of a priority -- may land
 * before the hint, so the hint is reset and waiting readers are woken at
 * commit, as mq.redrive() does.  Without it the hints would have to be
 * distrusted every few hundred milliseconds, and a scan from the start of
 * a queue walks every dead entry a held snapshot keeps: that walk, not the
 * dead rows themselves, made reads collapse behind a long transaction.
 */
Datum
mq_table_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	int32		queue_id;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mq._table_changed() must be called as a trigger")));
	if (mq_queue_own_statement)
		return PointerGetDatum(NULL);
	if (RelationGetNamespace(td->tg_relation) != get_namespace_oid("mq", false) ||
		sscanf(RelationGetRelationName(td->tg_relation), "q_%d", &queue_id) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mq._table_changed() is for the message tables of queues")));
	mq_hint_reset(queue_id);
	mq_wake_queue_at_commit(queue_id, false);
	return PointerGetDatum(NULL);
}

/*
 * Does rel have the layout of queue_int.h, or 0.7.0's (its first
 * MQ_LEGACY_NATTS columns: a database not yet updated)?  (A superuser may
 * have altered the table; the statements, which name their columns, still
 * work then.)
 */
static bool
storage_layout_ok(Relation rel)
{
	static const Oid types[Natts_mq_message] = {
		INT8OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID,
		TEXTOID, TEXTOID, JSONBOID, JSONBOID, BYTEAOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID
	};
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (desc->natts != Natts_mq_message && desc->natts != MQ_LEGACY_NATTS)
		return false;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != types[i])
			return false;
	}
	return true;
}

/* Has rel a trigger that is not mq's own (somebody added one: it must fire)? */
bool
mq_queue_foreign_triggers(Relation rel)
{
	int			i;

	if (rel->trigdesc == NULL)
		return false;
	for (i = 0; i < rel->trigdesc->numtriggers; i++)
		if (strcmp(rel->trigdesc->triggers[i].tgname, MQ_TABLE_TRIGGER) != 0)
			return true;
	return false;
}

/*
 * q's message table for the direct path, which the entry point has locked
 * (mq_queue_lock_queue); NULL when the SQL path must run:
 * mq.direct_access is off, the table has triggers of somebody else's, or
 * its layout is not queue_int.h's.
 */
Relation
mq_queue_open_table(MqQueue *q)
{
	if (!mq_direct_access)
		return NULL;
	return mq_queue_open_table_ext(q, false);
}

/*
 * The same whatever mq.direct_access says; with required, an error instead
 * of NULL (reads of queues with fairness or group limits, which have no
 * SQL form).
 */
Relation
mq_queue_open_table_ext(MqQueue *q, bool required)
{
	MqStorage  *st = mq_queue_state(q);
	Relation	rel;

	Assert(OidIsValid(st->relid));
	rel = table_open(st->relid, NoLock);
	/* checked every time: ALTER TABLE does not reset the queue cache */
	if (mq_queue_foreign_triggers(rel) || !storage_layout_ok(rel))
	{
		table_close(rel, NoLock);
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("queue \"%s\" cannot be read: its table has triggers or a changed layout",
							q->name),
					 errdetail("Reads of a queue with fair, group_concurrency or group_rate_limit go through mq's own walk, which fires no triggers."),
					 errhint("Drop the triggers on mq.q_%d, or clear those options with mq.alter_queue().",
							 q->id)));
		return NULL;
	}
	if (!OidIsValid(st->seqid))
		st->seqid = mq_identity_sequence(rel, Anum_mq_message_msg_id);
	return rel;
}

/*
 * q's message table for direct inserts: as mq_queue_open_table(), and NULL
 * too for 0.7.0's layout (a send writes every column of queue_int.h's)
 */
Relation
mq_queue_open_table_insert(MqQueue *q)
{
	Relation	rel = mq_queue_open_table(q);

	if (rel != NULL && RelationGetDescr(rel)->natts != Natts_mq_message)
	{
		table_close(rel, NoLock);
		return NULL;
	}
	return rel;
}

/* May q be read and acked here without SQL? */
bool
mq_queue_direct_ok(MqQueue *q)
{
	return !IsolationUsesXactSnapshot();
}

/*
 * The index of rel, the message table of q, named q_<id>_<suffix>, or
 * InvalidOid if it is missing.  The OID is kept in *cached, and checked
 * against the table's index list on every call (REINDEX CONCURRENTLY
 * replaces it).
 */
Oid
mq_queue_index(MqQueue *q, Relation rel, const char *suffix, Oid *cached)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	char	   *name;

	if (OidIsValid(*cached) && list_member_oid(indexes, *cached))
		return *cached;
	*cached = InvalidOid;
	name = psprintf("q_%d_%s", q->id, suffix);
	foreach(lc, indexes)
	{
		char	   *relname = get_rel_name(lfirst_oid(lc));

		if (relname != NULL && strcmp(relname, name) == 0)
			*cached = lfirst_oid(lc);
	}
	return *cached;
}

/* A varlena to hand out: TOAST pointers fetched, so it outlives the row. */
Datum
mq_queue_detoast(Datum value, bool isnull)
{
	if (!isnull && VARATT_IS_EXTERNAL(DatumGetPointer(value)))
		return PointerGetDatum(detoast_external_attr((struct varlena *)
													 DatumGetPointer(value)));
	return value;
}

/* an index that mq made for q is gone: say how to get it back */
void
mq_queue_missing_index(MqQueue *q, const char *suffix)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the %s index of queue \"%s\" is missing", suffix, q->name),
			 errdetail("Index mq.q_%d_%s was dropped.", q->id, suffix),
			 errhint("Turn the option that needs it off and on again with mq.alter_queue(), which makes it anew.")));
}
