/*-------------------------------------------------------------------------
 *
 * storage_am.c
 *	  Sends, leases, pops and acks through the table and index access
 *	  methods, without SQL: table_multi_insert() with the executor's index
 *	  insertion for sends without a dedup key, and a walk of the delivery
 *	  order for takes in READ COMMITTED.  See src/README.md ("Storage").
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
#include "hint.h"
#include "storage_int.h"
#include "wait.h"


PG_FUNCTION_INFO_V1(mq_group_has_older);

/*
 * Messages without dedup keys go straight into the table with
 * table_multi_insert() and the executor's index insertion, as COPY does:
 * for a batch, one WAL record and one buffer lock per page of messages
 * instead of one per message; for a single send, no plan and no executor
 * start-up.  The caller has checked the messages and the privileges (the
 * table's own are closed; this path does not consult them).
 *
 * mq_storage_open_table() returns NULL when the table has triggers (somebody
 * added one to mq's table): then the SQL path runs, and the triggers with it.
 * It does so too when mq.direct_access is off.
 */
#define MQ_MULTI_INSERT_CHUNK 1000

/*
 * Does rel have the layout of storage_int.h?  (A superuser may have altered
 * the table; the statements, which name their columns, still work then.)
 */
static bool
storage_layout_ok(Relation rel)
{
	static const Oid types[Natts_mq_message] = {
		INT8OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID,
		TEXTOID, TEXTOID, JSONBOID, JSONBOID
	};
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (desc->natts != Natts_mq_message)
		return false;
	for (i = 0; i < Natts_mq_message; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != types[i])
			return false;
	}
	return true;
}

/* Has rel a trigger that is not mq's own (somebody added one: it must fire)? */
bool
mq_storage_foreign_triggers(Relation rel)
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
 * (mq_storage_lock_queue); NULL when the SQL path must run:
 * mq.direct_access is off, the table has triggers of somebody else's, or
 * its layout is not storage_int.h's.
 */
Relation
mq_storage_open_table(MqQueue *q)
{
	if (!mq_direct_access)
		return NULL;
	return mq_storage_open_table_ext(q, false);
}

/*
 * The same whatever mq.direct_access says; with required, an error instead
 * of NULL (reads of queues with fairness or group limits, which have no
 * SQL form).
 */
Relation
mq_storage_open_table_ext(MqQueue *q, bool required)
{
	MqStorage  *st = mq_storage_state(q);
	Relation	rel;

	Assert(OidIsValid(st->relid));
	rel = table_open(st->relid, NoLock);
	/* checked every time: ALTER TABLE does not reset the queue cache */
	if (mq_storage_foreign_triggers(rel) || !storage_layout_ok(rel))
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
 * Insert n messages into rel (from mq_storage_open_table), closing it; their
 * ids go to ids[].  headers and groups may be NULL.
 */
void
mq_storage_insert_rows(MqQueue *q, Relation rel, int n, TimestampTz now,
					TimestampTz vt, int32 priority, Datum *bodies,
					Datum *headers, bool *hnulls, Datum *groups, bool *gnulls,
					int64 *ids)
{
	int			nslots = Min(n, MQ_MULTI_INSERT_CHUNK);
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	BulkInsertState bistate = n > 1 ? GetBulkInsertState() : NULL;
	CommandId	cid = GetCurrentCommandId(true);
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * nslots);
	int			i,
				done;

	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	for (i = 0; i < nslots; i++)
		slots[i] = table_slot_create(rel, NULL);

	for (done = 0; done < n; done += MQ_MULTI_INSERT_CHUNK)
	{
		int			chunk = Min(n - done, MQ_MULTI_INSERT_CHUNK);

		for (i = 0; i < chunk; i++)
		{
			TupleTableSlot *slot = slots[i];
			int			row = done + i;

			ExecClearTuple(slot);
			ids[row] = nextval_internal(mq_storage_state(q)->seqid, false);
			slot->tts_values[MQ_COL(Anum_mq_message_msg_id)] = Int64GetDatum(ids[row]);
			slot->tts_values[MQ_COL(Anum_mq_message_read_ct)] = Int32GetDatum(0);
			slot->tts_values[MQ_COL(Anum_mq_message_enqueued_at)] = TimestampTzGetDatum(now);
			slot->tts_values[MQ_COL(Anum_mq_message_vt)] = TimestampTzGetDatum(vt);
			slot->tts_values[MQ_COL(Anum_mq_message_priority)] = Int32GetDatum(priority);
			slot->tts_values[MQ_COL(Anum_mq_message_group_key)] = groups ? groups[row] : (Datum) 0;
			slot->tts_values[MQ_COL(Anum_mq_message_dedup_key)] = (Datum) 0;
			slot->tts_values[MQ_COL(Anum_mq_message_headers)] = headers ? headers[row] : (Datum) 0;
			slot->tts_values[MQ_COL(Anum_mq_message_body)] = bodies[row];
			memset(slot->tts_isnull, 0, sizeof(bool) * Natts_mq_message);
			slot->tts_isnull[MQ_COL(Anum_mq_message_group_key)] = groups == NULL || gnulls[row];
			slot->tts_isnull[MQ_COL(Anum_mq_message_dedup_key)] = true;
			slot->tts_isnull[MQ_COL(Anum_mq_message_headers)] = headers == NULL || hnulls[row];
			ExecStoreVirtualTuple(slot);
		}
		table_multi_insert(rel, slots, chunk, cid, 0, bistate);
		for (i = 0; i < chunk; i++)
		{
			ResetPerTupleExprContext(estate);
			mq_insert_index_tuples(rri, slots[i], estate, MQ_INDEX_ALL);
		}
	}

	/* ids come from the sequence in order: ids[0] is the first */
	if (n > 0)
		mq_storage_inserted(q, priority, ids[0]);
	for (i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	if (bistate)
		FreeBulkInsertState(bistate);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	CommandCounterIncrement();
}

/* A batch without dedup keys; false when the SQL path must do it. */
bool
mq_storage_multi_insert(MqQueue *q, TimestampTz now, TimestampTz vt,
					 int32 priority, MqBatch *batch,
					 Tuplestorestate *out, TupleDesc outdesc)
{
	Relation	rel = mq_storage_open_table(q);
	int			n = batch->n;
	int64	   *ids;
	int			i;

	if (rel == NULL)
		return false;
	ids = palloc(sizeof(int64) * n);
	mq_storage_insert_rows(q, rel, n, now, vt, priority, batch->bodies.values,
						batch->headers.values, batch->headers.nulls,
						batch->group_keys.values, batch->group_keys.nulls, ids);
	for (i = 0; i < n; i++)
	{
		Datum		id = Int64GetDatum(ids[i]);
		bool		isnull = false;

		tuplestore_putvalues(out, outdesc, &id, &isnull);
	}
	return true;
}

/*
 * Leases, pops and acks without SQL: see src/README.md ("Reads without
 * SQL").  Only what the statements do plainly is done here: REPEATABLE READ
 * and SERIALIZABLE transactions take the SQL path, and a lease that meets a
 * candidate past max_receives or message_ttl stops there and lets the SQL
 * statement dead-letter it and go on.
 */

/* May q be read and acked here without SQL? */
bool
mq_storage_direct_ok(MqQueue *q)
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
mq_storage_index(MqQueue *q, Relation rel, const char *suffix, Oid *cached)
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
mq_storage_detoast(Datum value, bool isnull)
{
	if (!isnull && VARATT_IS_EXTERNAL(DatumGetPointer(value)))
		return PointerGetDatum(detoast_external_attr((struct varlena *)
													 DatumGetPointer(value)));
	return value;
}

/*
 * Is the row that index entry tid leads to gone for good: no version of it
 * visible now, nor inserted or deleted by a transaction in progress?  (A
 * dirty snapshot sees exactly those.)  If not, *key gets its position.
 * *fetch and *slot are made on first use.
 */
static bool
storage_dead_for_good(Relation rel, IndexFetchTableData **fetch,
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
mq_group_key_hash(const void *key, Size keysize)
{
	const text *t = *(text *const *) key;

	return DatumGetUInt32(hash_any((const unsigned char *) VARDATA_ANY(t),
								   VARSIZE_ANY_EXHDR(t)));
}

int
mq_group_key_match(const void *key1, const void *key2, Size keysize)
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
mq_storage_group_blocked(DirectTake *dt, Datum group_key, int64 msg_id)
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
			ctl.hash = mq_group_key_hash;
			ctl.match = mq_group_key_match;
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
mq_storage_take_row(DirectTake *dt, TupleTableSlot *slot, bool pop,
				 TimestampTz vt)
{
	TM_FailureData tmfd;
	TM_Result	result;
	MqIndexUpdate indexes;

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
	memcpy(dt->newslot->tts_values, slot->tts_values, sizeof(Datum) * Natts_mq_message);
	memcpy(dt->newslot->tts_isnull, slot->tts_isnull, sizeof(bool) * Natts_mq_message);
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
static IndexScanDesc
storage_begin_range(DirectTake *dt, Relation index, const MqHintRead *hint,
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
mq_storage_take_begin(DirectTake *dt, MqQueue *q, Relation rel, Oid groupid)
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

/* Undo mq_storage_take_begin(), closing the table too */
void
mq_storage_take_end(DirectTake *dt)
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

/* Is the message in slot (all attributes there) past its limits? */
bool
mq_storage_is_dead_letter(MqQueue *q, TupleTableSlot *slot, TimestampTz cutoff)
{
	Datum	   *values = slot->tts_values;

	return (q->max_receives > 0 &&
			DatumGetInt32(values[MQ_COL(Anum_mq_message_read_ct)]) >= q->max_receives) ||
		DatumGetTimestampTz(values[MQ_COL(Anum_mq_message_enqueued_at)]) <= cutoff;
}

/*
 * Append the message in slot, just taken, to out as the read returns it;
 * a popped message's dedup key goes to keys[] and ids[].
 */
void
mq_storage_put_taken(TupleTableSlot *slot, bool pop, TimestampTz vt,
					 Tuplestorestate *out, TupleDesc outdesc, Datum *keys,
					 Datum *ids, int *nkeys)
{
	Datum	   *values = slot->tts_values;
	bool	   *isnull = slot->tts_isnull;
	Datum		outvalues[Natts_mq_message];
	int			i;

	/* the varlena columns (group_key on) outlive the row */
	for (i = 0; i < Natts_mq_message; i++)
		outvalues[i] = i < MQ_COL(Anum_mq_message_group_key) ? values[i] :
			mq_storage_detoast(values[i], isnull[i]);
	outvalues[MQ_COL(Anum_mq_message_read_ct)] = Int32GetDatum(DatumGetInt32(values[MQ_COL(Anum_mq_message_read_ct)]) + 1);
	if (!pop)
		outvalues[MQ_COL(Anum_mq_message_vt)] = TimestampTzGetDatum(vt);
	tuplestore_putvalues(out, outdesc, outvalues, isnull);
	if (pop && !isnull[MQ_COL(Anum_mq_message_dedup_key)])
	{
		keys[*nkeys] = outvalues[MQ_COL(Anum_mq_message_dedup_key)];
		ids[*nkeys] = values[MQ_COL(Anum_mq_message_msg_id)];
		(*nkeys)++;
	}
}

/*
 * Lease (or pop) up to qty messages of q without SQL, appending them to out
 * in delivery order.  Returns how many; *more is set when the SQL statement
 * must go on: the table cannot be used directly, or a candidate is past its
 * limits and must be dead-lettered.  Dedup keys of popped messages go to
 * keys[] and ids[] (room for qty), their count to *nkeys.
 *
 * gated (a queue with group_concurrency or group_rate_limit): the table is
 * used whatever mq.direct_access says (or the call fails), and each
 * candidate of a group must pass the gate (storage_fair.c); *more then only
 * means a dead letter, which the caller sweeps before it walks again.  With
 * skip_dead, candidates past their limits are passed over instead.
 */
uint64
mq_storage_take_direct(MqQueue *q, bool pop, TimestampTz now, TimestampTz vt,
					int64 qty, TimestampTz cutoff, Tuplestorestate *out,
					TupleDesc outdesc, bool *more, Datum *keys, Datum *ids,
					int *nkeys, bool gated, bool skip_dead)
{
	DirectTake	dt;
	MqGate	   *gate = NULL;
	Relation	rel;
	Relation	index;
	Oid			indexid;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	uint64		delivered = 0;
	MqHintRead	hint;
	MqKey		first;
	bool		have_first = false;
	bool		may_move_hint;
	IndexFetchTableData *fetch = NULL;
	TupleTableSlot *dirtyslot = NULL;
	int			range;
	Oid			groupid;

	*more = false;
	*nkeys = 0;
	rel = gated ? mq_storage_open_table_ext(q, true) : mq_storage_open_table(q);
	if (rel == NULL)
	{
		*more = true;
		return 0;
	}
	indexid = mq_storage_index(q, rel, "order", &mq_storage_state(q)->order_index);
	groupid = q->fifo ? mq_storage_index(q, rel, "group", &mq_storage_state(q)->group_index) :
		InvalidOid;
	if (!OidIsValid(indexid) || (q->fifo && !OidIsValid(groupid)))
	{
		table_close(rel, NoLock);
		if (gated)
			mq_storage_missing_index(q, !OidIsValid(indexid) ? "order" : "group");
		*more = true;
		return 0;
	}

	/*
	 * The hint first, then the snapshot: see hint.c.  Rows that this
	 * transaction deleted look dead for good but come back if it rolls
	 * back; so a transaction that wrote anything before this call uses the
	 * hint but does not move it.
	 */
	mq_hint_read(q->id, now, &hint);
	may_move_hint = !TransactionIdIsValid(GetTopTransactionIdIfAny());

	mq_storage_take_begin(&dt, q, rel, groupid);
	if (gated)
		gate = mq_gate_begin(q, rel, pop, now);
	index = index_open(indexid, RowExclusiveLock);
	slot = table_slot_create(rel, NULL);

	for (range = 0;
		 delivered < qty && !*more &&
		 (scan = storage_begin_range(&dt, index, &hint, range)) != NULL;
		 range++)
	{
		ItemPointer tid;

		while (delivered < qty &&
			   (tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
		{
			Datum	   *values = slot->tts_values;
			bool	   *isnull = slot->tts_isnull;
			bool		grouped;

			CHECK_FOR_INTERRUPTS();
			if (!index_fetch_heap(scan, slot))
			{
				/* the new hint goes no further than a row that may come back */
				if (!have_first)
					have_first = !storage_dead_for_good(rel, &fetch,
														&dirtyslot, tid,
														&first);
				continue;
			}
			slot_getallattrs(slot);
			if (!have_first)
			{
				first.priority = DatumGetInt32(values[MQ_COL(Anum_mq_message_priority)]);
				first.msg_id = DatumGetInt64(values[MQ_COL(Anum_mq_message_msg_id)]);
				have_first = true;
			}
			if (DatumGetTimestampTz(values[MQ_COL(Anum_mq_message_vt)]) > now)
				continue;		/* leased or delayed */
			grouped = !isnull[MQ_COL(Anum_mq_message_group_key)];
			if (q->fifo && grouped &&
				mq_storage_group_blocked(&dt, values[MQ_COL(Anum_mq_message_group_key)], DatumGetInt64(values[MQ_COL(Anum_mq_message_msg_id)])))
				continue;		/* not the head of its group */
			if (mq_storage_is_dead_letter(q, slot, cutoff))
			{
				if (skip_dead)
					continue;
				/* a dead letter: the SQL statement (or a sweep) moves it */
				*more = true;
				break;
			}
			if (gate && grouped &&
				!mq_gate_admit(gate, &dt, values[MQ_COL(Anum_mq_message_group_key)]))
				continue;		/* its group is at a limit */
			/* held, changed or removed by another transaction: skip it */
			if (mq_storage_take_row(&dt, slot, pop, vt) != TM_Ok)
			{
				if (gate && grouped)
					mq_gate_untaken(gate, values[MQ_COL(Anum_mq_message_group_key)]);
				dt.probe_stale = true;
				continue;
			}
			if (gate && grouped)
				mq_gate_taken(gate, values[MQ_COL(Anum_mq_message_group_key)]);
			mq_storage_put_taken(slot, pop, vt, out, outdesc, keys, ids, nkeys);
			delivered++;
		}
		index_endscan(scan);
	}

	/*
	 * Every entry before first is dead for good.  (A scan that met no live
	 * entry keeps the old hint: rows that mq does not announce, such as
	 * ones inserted by hand, then still come after it if they are new.)
	 */
	if (have_first && may_move_hint)
		mq_hint_store(q->id, &hint, &first, now);

	if (fetch != NULL)
		table_index_fetch_end(fetch);
	if (dirtyslot != NULL)
		ExecDropSingleTupleTableSlot(dirtyslot);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	if (gate)
		mq_gate_end(gate);
	mq_storage_take_end(&dt);
	return delivered;
}

/* an index that mq made for q is gone: say how to get it back */
void
mq_storage_missing_index(MqQueue *q, const char *suffix)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the %s index of queue \"%s\" is missing", suffix, q->name),
			 errdetail("Index mq.q_%d_%s was dropped.", q->id, suffix),
			 errhint("Turn the option that needs it off and on again with mq.alter_queue(), which makes it anew.")));
}

/*
 * Delete message msg_id of q without SQL.  Returns 1 if deleted, 0 if there
 * is no such message, -1 if the SQL statement must do it.  *key gets its
 * dedup key (or NULL).  Like DELETE in READ COMMITTED, waits for a
 * transaction that holds the row and, when that one changed it, deletes
 * the new version.
 */
int
mq_storage_delete_direct(MqQueue *q, int64 msg_id, text **key)
{
	Relation	rel = mq_storage_open_table(q);
	Relation	index;
	Oid			indexid;
	TupleTableSlot *slot;
	ScanKeyData scankey;
	CommandId	cid;
	int			deleted = 0;

	*key = NULL;
	if (rel == NULL)
		return -1;
	indexid = mq_primary_key_index(rel);
	if (!OidIsValid(indexid))
	{
		table_close(rel, NoLock);
		return -1;
	}

	CommandCounterIncrement();
	cid = GetCurrentCommandId(true);
	index = index_open(indexid, RowExclusiveLock);
	slot = table_slot_create(rel, NULL);
	ScanKeyInit(&scankey, 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(msg_id));
	for (;;)
	{
		Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
		IndexScanDesc scan = mq_index_beginscan(rel, index, snapshot, 1);
		TM_FailureData tmfd;
		TM_Result	result;
		bool		found;

		index_rescan(scan, &scankey, 1, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, slot);
		index_endscan(scan);
		if (!found)
		{
			UnregisterSnapshot(snapshot);
			break;
		}
		result = mq_tuple_delete(rel, &slot->tts_tid, cid, snapshot, true,
								 &tmfd);
		UnregisterSnapshot(snapshot);
		if (result == TM_Ok)
		{
			bool		isnull;
			Datum		k = slot_getattr(slot, Anum_mq_message_dedup_key, &isnull);

			if (!isnull)
				*key = DatumGetTextPCopy(k);
			deleted = 1;
			break;
		}
		/* changed by a transaction that committed meanwhile: look again */
		if (result != TM_Updated)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(rel, NoLock);
	CommandCounterIncrement();
	return deleted;
}

