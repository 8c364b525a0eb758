/*-------------------------------------------------------------------------
 *
 * queue_take.c
 *	  Taking one row of a walk through the table and index access methods,
 *	  without SQL (the walks are in queue_lease.c and queue_fair.c): the
 *	  lock without waiting that makes two readers never get one row, the
 *	  FIFO probes that pass over a message whose group has an earlier one
 *	  (and mq._group_has_older() for the statements), index entries dead
 *	  for good, and what a taken row becomes (leased or popped, and put
 *	  out).  See src/README.md ("Reads without SQL").
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


PG_FUNCTION_INFO_V1(mq_group_has_older);


/*
 * Leases, pops and acks without SQL: see src/README.md ("Reads without
 * SQL").  Only what the statements do plainly is done here: REPEATABLE READ
 * and SERIALIZABLE transactions take the SQL path, and a lease that meets a
 * candidate past max_receives or message_ttl stops there and lets the SQL
 * statement dead-letter it and go on.
 */

/*
 * Is the row that index entry tid leads to gone for good: no version of it
 * visible now, nor inserted or deleted by a transaction in progress?  (A
 * dirty snapshot sees exactly those.)  If not, *key gets its position.
 * *fetch and *slot are made on first use.
 */
bool
mq_queue_dead_for_good(Relation rel, IndexFetchTableData **fetch,
					   TupleTableSlot **slot, ItemPointer tid, MqKey *key)
{
	SnapshotData dirty;
	ItemPointerData t = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	bool		isnull;

	if (*fetch == NULL)
	{
		*fetch = mq_index_fetch_begin(rel);
		*slot = table_slot_create(rel, NULL);
	}
	InitDirtySnapshot(dirty);
	if (!table_index_fetch_tuple(*fetch, &t, &dirty, *slot, &call_again,
								 &all_dead))
		return true;
	key->priority = DatumGetInt32(slot_getattr(*slot, Anum_mq_message_priority, &isnull));
	key->msg_id = DatumGetInt64(slot_getattr(*slot, Anum_mq_message_msg_id, &isnull));
	return false;
}


/*
 * A group in which a probe under probe snapshot number gen found a message
 * older than msg_id.  Under the same snapshot every message of the group
 * from msg_id on is blocked too (by that older one), so they are passed
 * over without a probe: a queue of many messages in few blocked groups
 * costs a walk, not a probe per message.  (Not "every later message the
 * walk meets": with priorities the walk can meet a group's newer messages
 * before its older ones.)  The cache only ever says "blocked", so a wrong
 * entry could delay a message, never hand out two of a group.
 */
typedef struct BlockedGroup
{
	text	   *key;			/* hash key: the group key (a copy) */
	uint64		gen;
	int64		msg_id;			/* blocked from this message on */
} BlockedGroup;

/*
 * Group keys compare as bytes, as texteq does: group_key has the database's
 * default collation, which is deterministic.
 */
uint32
mq_message_group_hash(const void *key, Size keysize)
{
	const text *t = *(text *const *) key;

	return DatumGetUInt32(hash_any((const unsigned char *) VARDATA_ANY(t),
								   VARSIZE_ANY_EXHDR(t)));
}

int
mq_message_group_match(const void *key1, const void *key2, Size keysize)
{
	const text *a = *(text *const *) key1;
	const text *b = *(text *const *) key2;

	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0 ? 0 : 1;
}

/*
 * Does group_key have a message older than msg_id in rel, as snapshot sees
 * it?  Then the message is not the head of its group and must wait (FIFO
 * queues).
 *
 * Callers ask twice.  An MVCC snapshot at least as new as the walk's sees
 * every older message that still exists, or is being leased or acked (rows
 * this transaction leased or deleted still count: the snapshot sees their
 * old versions).  A dirty snapshot also sees the messages of a send not yet
 * committed: the group's later messages wait for that send to end, or a
 * reader would get one of them and, after the commit, the earlier message
 * too while the later one was leased (two in flight, out of order).  The
 * dirty look alone is not enough: under 16 concurrent consumers it let a
 * group's second message be leased while its first was still there
 * (test/stress, check 6), so it only ever adds to what blocks.
 */
static bool
group_has_older(Relation rel, Relation group_index, TupleTableSlot *slot,
				Snapshot snapshot, Datum group_key, int64 msg_id)
{
	ScanKeyData scankeys[2];
	IndexScanDesc scan;
	bool		found;

	ScanKeyEntryInitialize(&scankeys[0], 0, 1, BTEqualStrategyNumber,
						   InvalidOid, group_index->rd_indcollation[0],
						   F_TEXTEQ, group_key);
	ScanKeyEntryInitialize(&scankeys[1], 0, 2, BTLessStrategyNumber,
						   InvalidOid, group_index->rd_indcollation[1],
						   F_INT8LT, Int64GetDatum(msg_id));
	scan = mq_index_beginscan(rel, group_index, snapshot, 2);
	index_rescan(scan, scankeys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/*
 * mq._group_has_older(queue_table oid, group_key text, msg_id bigint)
 * returns bool: group_has_older() with a dirty snapshot, for the SQL
 * statements (REPEATABLE READ readers, leases that dead-letter), whose own
 * NOT EXISTS sees what their snapshot sees but not sends in progress.  The group index is found once per statement.
 */
Datum
mq_group_has_older(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid		   *indexid = fcinfo->flinfo->fn_extra;
	Relation	rel;
	Relation	index;
	TupleTableSlot *slot;
	SnapshotData dirty;
	bool		found;

	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL || rel->rd_rel->relkind != RELKIND_RELATION ||
		RelationGetNamespace(rel) != get_namespace_oid("mq", false) ||
		strncmp(RelationGetRelationName(rel), "q_", 2) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation with OID %u is not the message table of a queue", relid)));
	if (indexid == NULL)
	{
		char	   *name = psprintf("%s_group", RelationGetRelationName(rel));
		List	   *indexes = RelationGetIndexList(rel);
		ListCell   *lc;

		indexid = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(Oid));
		foreach(lc, indexes)
		{
			char	   *relname = get_rel_name(lfirst_oid(lc));

			if (relname != NULL && strcmp(relname, name) == 0)
				*indexid = lfirst_oid(lc);
		}
		if (!OidIsValid(*indexid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table \"%s\" is not the message table of a FIFO queue",
							RelationGetRelationName(rel))));
		fcinfo->flinfo->fn_extra = indexid;
	}
	index = index_open(*indexid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	InitDirtySnapshot(dirty);
	found = group_has_older(rel, index, slot, &dirty, PG_GETARG_DATUM(1),
							PG_GETARG_INT64(2));
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	relation_close(rel, AccessShareLock);
	PG_RETURN_BOOL(found);
}

/*
 * Is msg_id held back by an older message of its group (group_has_older)?
 * The answers are remembered per group for the walk: a group blocked at
 * msg_id is blocked for every later message until a take fails, which
 * means other readers leased or acked meanwhile and the head may be gone.
 */
bool
mq_queue_message_group_blocked(DirectTake *dt, Datum group_key, int64 msg_id)
{
	bool		found;
	text	   *key = DatumGetTextPP(group_key);
	BlockedGroup *bg;

	if (dt->probe_stale)
	{
		if (dt->probe_snapshot != dt->snapshot)
			UnregisterSnapshot(dt->probe_snapshot);
		dt->probe_snapshot = RegisterSnapshot(GetLatestSnapshot());
		dt->probe_stale = false;
		dt->probe_gen++;
	}
	if (dt->blocked != NULL)
	{
		bg = hash_search(dt->blocked, &key, HASH_FIND, NULL);
		if (bg != NULL && bg->gen == dt->probe_gen && msg_id >= bg->msg_id)
			return true;
	}

	found = group_has_older(dt->rel, dt->group_index, dt->groupslot,
							dt->probe_snapshot, group_key, msg_id);
	if (!found)
	{
		SnapshotData dirty;

		InitDirtySnapshot(dirty);
		found = group_has_older(dt->rel, dt->group_index, dt->groupslot,
								&dirty, group_key, msg_id);
	}

	if (found)
	{
		bool		known;

		if (dt->blocked == NULL)
		{
			HASHCTL		ctl;

			dt->blocked_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"mq blocked groups",
													ALLOCSET_SMALL_SIZES);
			ctl.keysize = sizeof(text *);
			ctl.entrysize = sizeof(BlockedGroup);
			ctl.hash = mq_message_group_hash;
			ctl.match = mq_message_group_match;
			ctl.hcxt = dt->blocked_cxt;
			dt->blocked = hash_create("mq blocked groups", 64, &ctl,
									  HASH_ELEM | HASH_FUNCTION |
									  HASH_COMPARE | HASH_CONTEXT);
		}
		bg = hash_search(dt->blocked, &key, HASH_ENTER, &known);
		if (!known)
		{
			/* the entry holds the slot's pointer until it gets a copy */
			bg->key = MemoryContextAlloc(dt->blocked_cxt, VARSIZE_ANY(key));
			memcpy(bg->key, key, VARSIZE_ANY(key));
		}
		if (!known || bg->gen != dt->probe_gen || msg_id < bg->msg_id)
			bg->msg_id = msg_id;
		bg->gen = dt->probe_gen;
	}
	return found;
}

/*
 * Take the row in slot: lease it until vt, or delete it for pop.  Never
 * waits: a row that another transaction holds or changed since our
 * snapshot gives something other than TM_Ok.
 *
 * A delete can be told not to wait.  An update cannot: heap_update()
 * handles only wait = true for a row that another transaction holds (an
 * assertion-enabled server stops at Assert(result != TM_BeingModified ||
 * wait)).  So a lease first locks the row without waiting, as SKIP LOCKED
 * does, and then updates it; holding the lock, the update never waits.
 */
TM_Result
mq_queue_take_row(DirectTake *dt, TupleTableSlot *slot, bool pop,
				 TimestampTz vt)
{
	TM_FailureData tmfd;
	TM_Result	result;
	MqIndexUpdate indexes;
	int			natts;

	if (pop)
		return mq_tuple_delete(dt->rel, &slot->tts_tid, dt->cid,
							   dt->snapshot, false, &tmfd);

	result = table_tuple_lock(dt->rel, &slot->tts_tid, dt->snapshot, slot,
							  dt->cid, LockTupleNoKeyExclusive, LockWaitSkip,
							  0, &tmfd);
	if (result != TM_Ok)
		return result;
	/* the lock stored the row in slot anew (the same version) */
	slot_getallattrs(slot);

	ExecClearTuple(dt->newslot);
	natts = slot->tts_tupleDescriptor->natts;	/* (0.7.0's: fewer) */
	memcpy(dt->newslot->tts_values, slot->tts_values, sizeof(Datum) * natts);
	memcpy(dt->newslot->tts_isnull, slot->tts_isnull, sizeof(bool) * natts);
	dt->newslot->tts_values[MQ_COL(Anum_mq_message_read_ct)] =
		Int32GetDatum(DatumGetInt32(slot->tts_values[MQ_COL(Anum_mq_message_read_ct)]) + 1);
	dt->newslot->tts_values[MQ_COL(Anum_mq_message_vt)] = TimestampTzGetDatum(vt);
	ExecStoreVirtualTuple(dt->newslot);
	result = mq_tuple_update(dt->rel, &slot->tts_tid, dt->newslot, dt->cid,
							 dt->snapshot, true, &tmfd, &indexes);
	if (result != TM_Ok || indexes == MQ_INDEX_NONE)
		return result;

	/* not a HOT update: the new version needs index entries */
	if (dt->estate == NULL)
	{
		dt->estate = CreateExecutorState();
		dt->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(dt->rri, dt->rel, 1, NULL, 0);
		ExecOpenIndices(dt->rri, false);
	}
	ResetPerTupleExprContext(dt->estate);
	mq_insert_index_tuples(dt->rri, dt->newslot, dt->estate, indexes);
	return TM_Ok;
}

/*
 * Start a scan of range number range of the delivery order.  From the hint
 * (p, m) the rest of the order is two ranges of the index: priority = p
 * and msg_id >= m, then priority < p.  Without a hint, one range: all of
 * it.  Returns NULL when there is no such range.
 */
IndexScanDesc
mq_queue_begin_range(DirectTake *dt, Relation index, const MqHintRead *hint,
					 int range)
{
	ScanKeyData scankeys[2];
	int			nscankeys = 0;
	IndexScanDesc scan;

	if (range >= (hint->usable ? 2 : 1))
		return NULL;
	if (hint->usable && range == 0)
	{
		ScanKeyInit(&scankeys[0], 1, BTEqualStrategyNumber, F_INT4EQ,
					Int32GetDatum(hint->key.priority));
		ScanKeyInit(&scankeys[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE,
					Int64GetDatum(hint->key.msg_id));
		nscankeys = 2;
	}
	else if (hint->usable)
	{
		ScanKeyInit(&scankeys[0], 1, BTLessStrategyNumber, F_INT4LT,
					Int32GetDatum(hint->key.priority));
		nscankeys = 1;
	}
	scan = mq_index_beginscan(dt->rel, index, dt->snapshot, nscankeys);
	index_rescan(scan, scankeys, nscankeys, NULL, 0);
	return scan;
}

/*
 * Set up dt for a walk of rel, q's message table: a snapshot that sees what
 * committed up to now and what this transaction did, the slots, and on a
 * FIFO queue its group index (groupid).
 */
void
mq_queue_take_begin(DirectTake *dt, MqQueue *q, Relation rel, Oid groupid)
{
	memset(dt, 0, sizeof(*dt));
	dt->rel = rel;
	CommandCounterIncrement();
	dt->cid = GetCurrentCommandId(true);
	dt->snapshot = RegisterSnapshot(GetLatestSnapshot());
	dt->newslot = table_slot_create(rel, NULL);
	if (q->fifo)
	{
		dt->group_index = index_open(groupid, RowExclusiveLock);
		dt->groupslot = table_slot_create(rel, NULL);
		dt->probe_snapshot = dt->snapshot;
	}
}

/* Undo mq_queue_take_begin(), closing the table too */
void
mq_queue_take_end(DirectTake *dt)
{
	ExecDropSingleTupleTableSlot(dt->newslot);
	if (dt->estate != NULL)
	{
		ExecCloseIndices(dt->rri);
		FreeExecutorState(dt->estate);
	}
	if (dt->group_index != NULL)
	{
		if (dt->blocked_cxt != NULL)
			MemoryContextDelete(dt->blocked_cxt);	/* and the hash in it */
		ExecDropSingleTupleTableSlot(dt->groupslot);
		index_close(dt->group_index, NoLock);
	}
	if (dt->probe_snapshot != NULL && dt->probe_snapshot != dt->snapshot)
		UnregisterSnapshot(dt->probe_snapshot);
	UnregisterSnapshot(dt->snapshot);
	table_close(dt->rel, NoLock);
	CommandCounterIncrement();
}

/* Is the message in slot (all attributes there) past its limits at now? */
bool
mq_queue_is_dead_letter(MqQueue *q, TupleTableSlot *slot, TimestampTz now,
						TimestampTz cutoff)
{
	Datum	   *values = slot->tts_values;

	return (q->max_receives > 0 &&
			DatumGetInt32(values[MQ_COL(Anum_mq_message_read_ct)]) >= q->max_receives) ||
		DatumGetTimestampTz(values[MQ_COL(Anum_mq_message_enqueued_at)]) <= cutoff ||
		(slot->tts_tupleDescriptor->natts >= Anum_mq_message_expires_at &&
		 !slot->tts_isnull[MQ_COL(Anum_mq_message_expires_at)] &&
		 DatumGetTimestampTz(values[MQ_COL(Anum_mq_message_expires_at)]) <= now);
}

/*
 * Append the message in slot, just taken, to out as the read returns it;
 * a popped message's dedup key goes to keys[] and ids[].
 */
void
mq_queue_put_taken(TupleTableSlot *slot, bool pop, TimestampTz vt,
				   Tuplestorestate *out, TupleDesc outdesc, Datum *keys,
				   Datum *ids, int *nkeys)
{
	Datum	   *values = slot->tts_values;
	bool	   *isnull = slot->tts_isnull;
	Datum		outvalues[Natts_mq_message];
	bool		outnulls[Natts_mq_message];
	int			natts = slot->tts_tupleDescriptor->natts;	/* 0.7.0's: fewer */
	int			i;

	/* the varlena columns (group_key on) outlive the row */
	for (i = 0; i < Natts_mq_message; i++)
	{
		outnulls[i] = i >= natts || isnull[i];
		outvalues[i] = outnulls[i] ? (Datum) 0 :
			i < MQ_COL(Anum_mq_message_group_key) ||
			i == MQ_COL(Anum_mq_message_expires_at) ? values[i] :
			mq_queue_detoast(values[i], false);
	}
	outvalues[MQ_COL(Anum_mq_message_read_ct)] = Int32GetDatum(DatumGetInt32(values[MQ_COL(Anum_mq_message_read_ct)]) + 1);
	if (!pop)
		outvalues[MQ_COL(Anum_mq_message_vt)] = TimestampTzGetDatum(vt);
	Assert(outdesc->natts <= Natts_mq_message);
	tuplestore_putvalues(out, outdesc, outvalues, outnulls);
	if (pop && !isnull[MQ_COL(Anum_mq_message_dedup_key)])
	{
		keys[*nkeys] = outvalues[MQ_COL(Anum_mq_message_dedup_key)];
		ids[*nkeys] = values[MQ_COL(Anum_mq_message_msg_id)];
		(*nkeys)++;
	}
}

