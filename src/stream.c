/*-------------------------------------------------------------------------
 *
 * stream.c
 *	  Streams, part one: appends whose positions are dense in commit order,
 *	  and replay (mq.read_stream).  See src/README.md ("Streams").
 *
 * A sequence does not give readers dense positions in commit order: the
 * transaction that takes N may commit after the one that took N + 1, and a
 * reader that saw N + 1 would go past N.  So positions come from shared
 * memory.  Each partition has its next position; each backend lists the
 * appends its transaction has in flight (stream, partition, first
 * position).  An append takes its positions and lists them under one lock;
 * the transaction callback takes them off the list at commit -- after the
 * commit is visible to others (XACT_EVENT_COMMIT comes after the proc array
 * is updated) -- or at abort.  A reader takes the readable end of the
 * partition (the first position still in flight, or the next position)
 * under the same lock and only then its snapshot: every position before the
 * end belongs to an append that has ended, so the reader sees all of them
 * that committed, and it returns none at or past the end.  Rolled-back
 * appends leave gaps.  After a restart nothing is in flight and the next
 * position is found again from the table on first use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "args.h"
#include "compat.h"
#include "guc.h"
#include "privilege.h"
#include "spi.h"
#include "stream.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(mq_append);
PG_FUNCTION_INFO_V1(mq_append_batch);
PG_FUNCTION_INFO_V1(mq_read_stream);
PG_FUNCTION_INFO_V1(mq_stream_partition);
PG_FUNCTION_INFO_V1(mq_stream_forget);

/* partitions one transaction may append to */
#define MQ_STREAM_INFLIGHT 16

typedef struct PartKey
{
	Oid			dbid;
	int32		stream_id;
	int32		partition;
} PartKey;

typedef struct PartState
{
	PartKey		key;
	int64		next;			/* the next position to hand out */
	int64		published;		/* the readable end last written for standbys */
} PartState;

/* an append in flight: its partition and first position (stream_id 0: free) */
typedef struct InFlight
{
	PartKey		key;
	int64		first;
} InFlight;

typedef struct StreamShared
{
	LWLock	   *lock;
	int			nprocs;
	InFlight	inflight[FLEXIBLE_ARRAY_MEMBER];	/* nprocs * MQ_STREAM_INFLIGHT */
} StreamShared;

static StreamShared *stream_shared = NULL;
static HTAB *parts = NULL;
static int	my_inflight = 0;	/* entries this backend has listed */
static bool callback_registered = false;
/*
 * Streams dropped by this transaction, as pairs (stream id, nesting level
 * of the drop), forgotten at commit; a rolled-back savepoint takes its own
 * off the list.
 */
static List *to_forget = NIL;

static int
stream_nprocs(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

static Size
stream_shmem_size(void)
{
	return add_size(offsetof(StreamShared, inflight),
					mul_size(mul_size(stream_nprocs(), MQ_STREAM_INFLIGHT),
							 sizeof(InFlight)));
}

void
mq_stream_shmem_request(void)
{
	RequestAddinShmemSpace(stream_shmem_size());
	RequestAddinShmemSpace(hash_estimate_size(mq_max_stream_partitions, sizeof(PartState)));
	RequestNamedLWLockTranche("mq streams", 1);
}

void
mq_stream_shmem_startup(void)
{
	bool		found;
	HASHCTL		ctl;

	/* mq.c holds AddinShmemInitLock */
	stream_shared = ShmemInitStruct("mq streams", stream_shmem_size(), &found);
	if (!found)
	{
		stream_shared->lock = &(GetNamedLWLockTranche("mq streams"))->lock;
		stream_shared->nprocs = stream_nprocs();
		memset(stream_shared->inflight, 0,
			   sizeof(InFlight) * stream_shared->nprocs * MQ_STREAM_INFLIGHT);
	}
	ctl.keysize = sizeof(PartKey);
	ctl.entrysize = sizeof(PartState);
	parts = mq_shmem_init_hash("mq stream partitions", mq_max_stream_partitions, &ctl,
							   HASH_ELEM | HASH_BLOBS);
}

/* this backend's part of the in-flight table */
static InFlight *
my_slots(void)
{
	int			procno = mq_my_procno();

	if (procno < 0 || procno >= stream_shared->nprocs)
		elog(ERROR, "process number %d out of range", procno);
	return &stream_shared->inflight[procno * MQ_STREAM_INFLIGHT];
}

static void forget_stream(int32 stream_id);
static int64 published_end(MqStream *s, int32 partition, int64 otherwise);

/* at the end of the transaction its appends are no longer in flight */
static void
stream_xact_callback(XactEvent event, void *arg)
{
	InFlight   *slots;

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (my_inflight > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that appended to a stream"),
						 errdetail("Readers would wait for its positions, or pass them, while it is prepared.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (to_forget != NIL)
			{
				ListCell   *lc;

				if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
					for (lc = list_head(to_forget); lc != NULL; lc = lnext(to_forget, lnext(to_forget, lc)))
						forget_stream(lfirst_int(lc));
				list_free(to_forget);
				to_forget = NIL;
			}
			if (my_inflight == 0 || stream_shared == NULL)
				break;
			slots = my_slots();
			{
				int32		woken[MQ_STREAM_INFLIGHT];
				int			nwoken = 0;
				int			i,
							j;

				for (i = 0; i < MQ_STREAM_INFLIGHT; i++)
				{
					if (slots[i].key.stream_id == 0)
						continue;
					for (j = 0; j < nwoken; j++)
						if (woken[j] == slots[i].key.stream_id)
							break;
					if (j == nwoken)
						woken[nwoken++] = slots[i].key.stream_id;
				}
				LWLockAcquire(stream_shared->lock, LW_EXCLUSIVE);
				memset(slots, 0, sizeof(InFlight) * MQ_STREAM_INFLIGHT);
				LWLockRelease(stream_shared->lock);
				my_inflight = 0;

				/*
				 * The appends are visible and no longer hold the readable
				 * end back: wake the stream's waiting polls.
				 */
				if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
					for (j = 0; j < nwoken; j++)
						mq_wake_key_now(MQ_STREAM_WAIT_KEY(woken[j]));
			}
			break;
		default:
			break;
	}
}

/*
 * Statements kept per backend: the catalog look-up, and per segment table
 * its insert and its read (named from ids, so a dropped stream's plans are
 * never used again; they stay until the backend ends).
 */
typedef enum StreamPlanKind
{
	STREAM_PLAN_INSERT,
	STREAM_PLAN_INSERT_ONE,
	STREAM_PLAN_READ,
	STREAM_NUM_PLANS
} StreamPlanKind;

typedef struct SegmentPlans
{
	int32		key[2];			/* stream id, segment */
	SPIPlanPtr	plans[STREAM_NUM_PLANS];
	Oid			relid;			/* the segment table, once looked up */
} SegmentPlans;

static SPIPlanPtr lookup_plan = NULL;
static HTAB *segment_plans = NULL;

/* a rolled-back savepoint dropped nothing; a released one's drops move up */
static void
stream_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	List	   *kept = NIL;
	ListCell   *lc;
	MemoryContext old;

	if (to_forget == NIL ||
		(event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	for (lc = list_head(to_forget); lc != NULL; lc = lnext(to_forget, lnext(to_forget, lc)))
	{
		int			id = lfirst_int(lc);
		int			at = lfirst_int(lnext(to_forget, lc));

		if (at >= level && event == SUBXACT_EVENT_ABORT_SUB)
			continue;
		kept = lappend_int(lappend_int(kept, id), at >= level ? level - 1 : at);
	}
	list_free(to_forget);
	to_forget = kept;
	MemoryContextSwitchTo(old);
}

/*
 * The backend's cache of streams by name, dropped whenever mq._stream or
 * mq._stream_segment changes (their triggers invalidate the relcache
 * entry; a rotation or a drop by the worker reaches us at our next
 * transaction or lock).  A look-up that misses reads the catalog.
 */
typedef struct StreamCacheEntry
{
	char		name[MQ_NAME_MAXLEN + 1];	/* hash key */
	MqStream	s;
} StreamCacheEntry;

static HTAB *stream_cache = NULL;
static bool stream_cache_valid = false;
static Oid	stream_relids[2] = {InvalidOid, InvalidOid};

static void
stream_cache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == stream_relids[0] || relid == stream_relids[1])
		stream_cache_valid = false;
}

static void
stream_cache_prepare(void)
{
	static bool registered = false;
	HASHCTL		ctl;
	Oid			nsp;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(stream_cache_callback, (Datum) 0);
		registered = true;
	}
	if (stream_cache != NULL && stream_cache_valid)
		return;
	if (stream_cache != NULL)
		hash_destroy(stream_cache);
	ctl.keysize = MQ_NAME_MAXLEN + 1;
	ctl.entrysize = sizeof(StreamCacheEntry);
	ctl.hcxt = TopMemoryContext;
	stream_cache = hash_create("mq stream cache", 16, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	nsp = get_namespace_oid("mq", false);
	stream_relids[0] = get_relname_relid("_stream", nsp);
	stream_relids[1] = get_relname_relid("_stream_segment", nsp);
	/* before 0.5.0 no trigger tells of changes: no cache then */
	if (!OidIsValid(get_relname_relid("_stream_commit", nsp)))
		stream_relids[0] = InvalidOid;
	stream_cache_valid = true;
}

void
mq_stream_find(text *name, MqStream *s)
{
	Oid			argtype = TEXTOID;
	Datum		arg = PointerGetDatum(name);
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	StreamCacheEntry *cached;
	bool		found;

	mq_name_key("stream", name, s->name);
	stream_cache_prepare();
	cached = hash_search(stream_cache, s->name, HASH_FIND, NULL);
	if (cached != NULL)
	{
		*s = cached->s;
		return;
	}
	mq_spi_connect();
	if (lookup_plan == NULL)
		lookup_plan = mq_keep_plan("SELECT s.stream_id, s.partitions, s.owner,"
								   " (SELECT pg_catalog.max(g.segment) FROM mq._stream_segment g"
								   "  WHERE g.stream_id OPERATOR(pg_catalog.=) s.stream_id),"
								   " (SELECT pg_catalog.min(g.segment) FROM mq._stream_segment g"
								   "  WHERE g.stream_id OPERATOR(pg_catalog.=) s.stream_id)"
								   " FROM mq._stream s WHERE s.stream_name OPERATOR(pg_catalog.=) $1",
								   1, &argtype);
	if (mq_execute_plan_as_owner(lookup_plan, &arg, NULL, 1) != SPI_OK_SELECT)
		elog(ERROR, "stream look-up failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream \"%s\" does not exist", s->name),
				 errhint("Create it with mq.create_stream().")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	s->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	s->partitions = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	s->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	s->segment = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	if (isnull)
		s->segment = 1;
	s->first_segment = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
	if (isnull)
		s->first_segment = s->segment;
	SPI_finish();

	/* only a cache that no change invalidated meanwhile keeps the entry */
	if (stream_cache_valid && stream_relids[0] != InvalidOid)
	{
		cached = hash_search(stream_cache, s->name, HASH_ENTER, &found);
		cached->s = *s;
	}
}

void
mq_stream_lookup(text *name, MqStream *s, int privs)
{
	Oid			role = GetUserId();

	mq_stream_find(name, s);
	/* owners and superusers hold every privilege: no grants to read */
	if (role != s->owner && !superuser())
	{
		MqAcl		acl;
		MemoryContext cxt = CurrentMemoryContext;

		mq_spi_connect();
		mq_load_acl(&acl, "stream", s->id, s->owner, cxt);
		SPI_finish();
		mq_acl_check(&acl, "stream", s->name, role, privs);
	}
}

/* the backend's entry of one segment of the stream: its plans and table */
static SegmentPlans *
segment_entry(MqStream *s, int32 segment)
{
	int32		key[2] = {s->id, segment};
	SegmentPlans *sp;
	bool		found;

	if (segment_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(SegmentPlans);
		ctl.hcxt = TopMemoryContext;
		segment_plans = hash_create("mq stream plans", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	sp = hash_search(segment_plans, key, HASH_ENTER, &found);
	if (!found)
	{
		memset(sp->plans, 0, sizeof(sp->plans));
		sp->relid = InvalidOid;
	}
	return sp;
}

/* the kept plan of a statement on one segment of the stream (in SPI) */
static SPIPlanPtr
segment_plan(MqStream *s, int32 segment, StreamPlanKind kind)
{
	SegmentPlans *sp = segment_entry(s, segment);

	if (sp->plans[kind] == NULL)
	{
		if (kind == STREAM_PLAN_INSERT_ONE)
		{
			Oid			argtypes[6] = {INT4OID, INT8OID, TEXTOID, JSONBOID, JSONBOID,
			TIMESTAMPTZOID};

			sp->plans[kind] = mq_keep_plan(psprintf(
				"INSERT INTO mq.s_%d_%d (partition, position, key, headers, body, appended_at)"
				" VALUES ($1, $2, $3, $4, $5, $6)", s->id, segment), 6, argtypes);
		}
		else if (kind == STREAM_PLAN_INSERT)
		{
			Oid			argtypes[6] = {INT4ARRAYOID, INT8ARRAYOID, TEXTARRAYOID,
			JSONBARRAYOID, JSONBARRAYOID, TIMESTAMPTZOID};

			sp->plans[kind] = mq_keep_plan(psprintf(
				"INSERT INTO mq.s_%d_%d (partition, position, key, headers, body, appended_at)"
				" SELECT u.p, u.q, u.k, u.h, u.b, $6 FROM ROWS FROM"
				" (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
				" pg_catalog.unnest($4), pg_catalog.unnest($5)) AS u(p, q, k, h, b)",
				s->id, segment), 6, argtypes);
		}
		else
		{
			Oid			argtypes[4] = {INT4OID, INT8OID, INT8OID, INT8OID};

			sp->plans[kind] = mq_keep_plan(psprintf(
				"SELECT partition, position, key, headers, body, appended_at"
				" FROM mq.s_%d_%d WHERE partition OPERATOR(pg_catalog.=) $1"
				" AND position OPERATOR(pg_catalog.>=) $2"
				" AND position OPERATOR(pg_catalog.<) $3"
				" ORDER BY position LIMIT $4", s->id, segment), 4, argtypes);
		}
	}
	return sp->plans[kind];
}

bool
mq_stream_shmem_available(void)
{
	return stream_shared != NULL;
}

void
mq_stream_require_shmem(void)
{
	if (stream_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("streams need mq in shared_preload_libraries"),
				 errdetail("Positions are handed out in shared memory, which mq has only when preloaded."),
				 errhint("Add mq to shared_preload_libraries in postgresql.conf and restart.")));
}

/* FNV-1a, 32 bits, of the key's bytes: the documented key -> partition map */
static int32
key_partition(const char *key, int len, int32 partitions)
{
	uint32		h = 2166136261u;
	int			i;

	for (i = 0; i < len; i++)
	{
		h ^= (unsigned char) key[i];
		h *= 16777619u;
	}
	return (int32) (h % (uint32) partitions);
}

/* a record without a key: partitions in turn, from a place of this backend's */
static int32
no_key_partition(int32 partitions)
{
	static uint32 turn = 0;

	if (turn == 0)
		turn = (uint32) MyProcPid;
	return (int32) (turn++ % (uint32) partitions);
}

/* the next position of a partition, from its table (on first use) */
static SPIPlanPtr segments_plan = NULL;

/*
 * The stream's segments as the catalog has them now (in SPI).  A reader
 * calls it after taking the readable end: every append before the end has
 * committed, and so has the opening of the segment it wrote into, which a
 * new snapshot therefore sees -- the backend's cache may not yet.
 */
static void
refresh_segments(MqStream *s)
{
	Oid			argtype = INT4OID;
	Datum		arg = Int32GetDatum(s->id);
	bool		isnull;
	int32		first,
				last;

	if (segments_plan == NULL)
		segments_plan = mq_keep_plan("SELECT pg_catalog.min(segment), pg_catalog.max(segment)"
									 " FROM mq._stream_segment"
									 " WHERE stream_id OPERATOR(pg_catalog.=) $1",
									 1, &argtype);
	if (mq_execute_plan_as_owner(segments_plan, &arg, NULL, 1) != SPI_OK_SELECT)
		elog(ERROR, "stream segment look-up failed");
	first = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		return;
	last = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	s->first_segment = first;
	s->segment = last;
}

/*
 * Lock a segment table for reading, if it is still there: the worker drops
 * old segments under a lock it takes without waiting, so a segment that a
 * reader has locked stays until the reader's transaction ends.
 */
static bool
lock_segment(MqStream *s, int32 segment)
{
	char		relname[NAMEDATALEN];
	Oid			relid;

	snprintf(relname, sizeof(relname), "s_%d_%d", s->id, segment);
	relid = get_relname_relid(relname, get_namespace_oid("mq", false));
	if (!OidIsValid(relid))
		return false;
	LockRelationOid(relid, AccessShareLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
	{
		/* dropped while we waited */
		UnlockRelationOid(relid, AccessShareLock);
		return false;
	}
	return true;
}

/*
 * The greatest (max) or least (min) position of a partition over the
 * stream's segments; has_value false when none has a record of it.
 */
static int64
segments_aggregate(MqStream *s, int32 partition, bool max, bool *has_value)
{
	Oid			argtype = INT4OID;
	Datum		arg = Int32GetDatum(partition);
	int64		result = 0;
	int32		seg;

	*has_value = false;
	mq_spi_connect();
	refresh_segments(s);
	for (seg = s->first_segment; seg <= s->segment; seg++)
	{
		bool		isnull;
		int64		v;

		if (!lock_segment(s, seg))
			continue;
		if (mq_execute_latest_as_owner(psprintf("SELECT pg_catalog.%s(position) FROM mq.s_%d_%d"
												" WHERE partition OPERATOR(pg_catalog.=) $1",
												max ? "max" : "min", s->id, seg),
									   1, &argtype, &arg) != SPI_OK_SELECT)
			elog(ERROR, "stream position look-up failed");
		v = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										1, &isnull));
		if (isnull)
			continue;
		if (!*has_value || (max ? v > result : v < result))
			result = v;
		*has_value = true;
	}
	SPI_finish();
	return result;
}

int64
mq_stream_stored_next(MqStream *s, int32 partition)
{
	bool		found;
	int64		last = segments_aggregate(s, partition, true, &found);

	return found ? last + 1 : 0;
}

/* the first position of a partition that retention has kept (its end if none) */
int64
mq_stream_earliest(MqStream *s, int32 partition, int64 end)
{
	bool		found;
	int64		first = segments_aggregate(s, partition, false, &found);

	return found ? Min(first, end) : end;
}

static void
part_key(PartKey *key, MqStream *s, int32 partition)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->stream_id = s->id;
	key->partition = partition;
}

/*
 * Make sure shared memory knows the partition: on its first use since the
 * server started, its next position comes from its stored records.  (No
 * append can be in flight for a partition that shared memory does not
 * know, so the stored records are all there is.)
 */
static void
part_ensure(MqStream *s, int32 partition)
{
	PartKey		key;
	PartState  *ps;
	bool		found;
	int64		next;

	part_key(&key, s, partition);
	LWLockAcquire(stream_shared->lock, LW_SHARED);
	found = hash_search(parts, &key, HASH_FIND, NULL) != NULL;
	LWLockRelease(stream_shared->lock);
	if (found)
		return;
	next = mq_stream_stored_next(s, partition);
	/* never below an end standbys were told of (its last positions may have rolled back) */
	next = Max(next, published_end(s, partition, 0));
	LWLockAcquire(stream_shared->lock, LW_EXCLUSIVE);
	ps = NULL;
	if (hash_get_num_entries(parts) < mq_max_stream_partitions)
		ps = hash_search(parts, &key, HASH_ENTER_NULL, &found);
	else
		ps = hash_search(parts, &key, HASH_FIND, &found);
	if (ps == NULL)
	{
		LWLockRelease(stream_shared->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many stream partitions in use (mq.max_stream_partitions is %d)",
						mq_max_stream_partitions),
				 errhint("Raise mq.max_stream_partitions and restart the server.")));
	}
	if (!found)
	{
		ps->next = next;
		ps->published = -1;
	}
	LWLockRelease(stream_shared->lock);
}

/*
 * A partition gone from shared memory: its stream's drop committed.  Called
 * with the lock held; does not return.
 */
static void
stream_was_dropped(MqStream *s)
{
	LWLockRelease(stream_shared->lock);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("stream \"%s\" was dropped", s->name)));
}

/*
 * Hand out n positions of a partition and list them as in flight for this
 * transaction; returns the first.
 */
static int64
take_positions(MqStream *s, int32 partition, int n)
{
	PartKey		key;
	PartState  *ps;
	InFlight   *slots;
	int64		first;
	int			i;
	int			free_slot = -1;

	mq_stream_require_shmem();
	if (!callback_registered)
	{
		RegisterXactCallback(stream_xact_callback, NULL);
		RegisterSubXactCallback(stream_subxact_callback, NULL);
		callback_registered = true;
	}
	part_key(&key, s, partition);
	slots = my_slots();
	LWLockAcquire(stream_shared->lock, LW_EXCLUSIVE);
	ps = hash_search(parts, &key, HASH_FIND, NULL);
	if (ps == NULL)
	{
		/* first use since the server started: load it, then look again */
		LWLockRelease(stream_shared->lock);
		part_ensure(s, partition);
		LWLockAcquire(stream_shared->lock, LW_EXCLUSIVE);
		ps = hash_search(parts, &key, HASH_FIND, NULL);
	}
	if (ps == NULL)
		stream_was_dropped(s);	/* just now: its drop forgot it */
	for (i = 0; i < MQ_STREAM_INFLIGHT; i++)
	{
		if (slots[i].key.stream_id == 0)
		{
			if (free_slot < 0)
				free_slot = i;
		}
		else if (memcmp(&slots[i].key, &key, sizeof(key)) == 0)
			break;				/* listed already, with a smaller first */
	}
	if (i == MQ_STREAM_INFLIGHT)
	{
		if (free_slot < 0)
		{
			LWLockRelease(stream_shared->lock);
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a transaction can append to at most %d stream partitions",
							MQ_STREAM_INFLIGHT),
					 errhint("Commit more often.")));
		}
		slots[free_slot].key = key;
		slots[free_slot].first = ps->next;
		my_inflight++;
	}
	first = ps->next;
	ps->next += n;
	LWLockRelease(stream_shared->lock);
	return first;
}

static SPIPlanPtr published_plan = NULL;

/*
 * The greatest readable end the primary's worker wrote for a partition
 * (mq._stream_end, 0.5.0 on), or otherwise.
 */
static int64
published_end(MqStream *s, int32 partition, int64 otherwise)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2];
	bool		isnull;
	int64		end = otherwise;

	if (!OidIsValid(get_relname_relid("_stream_end", get_namespace_oid("mq", false))))
		return otherwise;
	args[0] = Int32GetDatum(s->id);
	args[1] = Int32GetDatum(partition);
	mq_spi_connect();
	if (published_plan == NULL)
		published_plan = mq_keep_plan("SELECT pg_catalog.max(end_position) FROM mq._stream_end"
									  " WHERE stream_id OPERATOR(pg_catalog.=) $1"
									  " AND partition OPERATOR(pg_catalog.=) $2",
									  2, argtypes);
	if (mq_execute_plan_as_owner(published_plan, args, NULL, 1) != SPI_OK_SELECT)
		elog(ERROR, "stream end look-up failed");
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			end = DatumGetInt64(d);
	}
	SPI_finish();
	return end;
}

/* a partition's readable end as the worker computes it for standbys */
typedef struct EndEntry
{
	PartKey		key;
	int64		end;
	int64		published;
} EndEntry;

/*
 * The partitions of this database whose readable end moved since the
 * worker last wrote it (palloc'd; *n of them).  One pass over the slots of
 * appends in flight.
 */
static EndEntry *
moved_ends(int *n)
{
	HASH_SEQ_STATUS status;
	PartState  *ps;
	EndEntry   *all;
	int			nall = 0;
	int			max;
	int			i,
				j,
				k;
	EndEntry   *moved;

	*n = 0;
	if (stream_shared == NULL)
		return NULL;
	LWLockAcquire(stream_shared->lock, LW_SHARED);
	max = hash_get_num_entries(parts);
	all = palloc(sizeof(EndEntry) * Max(max, 1));
	hash_seq_init(&status, parts);
	while ((ps = hash_seq_search(&status)) != NULL)
	{
		if (ps->key.dbid != MyDatabaseId || nall >= max)
			continue;
		all[nall].key = ps->key;
		all[nall].end = ps->next;
		all[nall].published = ps->published;
		nall++;
	}
	k = stream_shared->nprocs * MQ_STREAM_INFLIGHT;
	for (i = 0; i < k && nall > 0; i++)
	{
		InFlight   *f = &stream_shared->inflight[i];

		if (f->key.stream_id == 0 || f->key.dbid != MyDatabaseId)
			continue;
		for (j = 0; j < nall; j++)
			if (all[j].key.stream_id == f->key.stream_id &&
				all[j].key.partition == f->key.partition)
			{
				if (f->first < all[j].end)
					all[j].end = f->first;
				break;
			}
	}
	LWLockRelease(stream_shared->lock);
	moved = palloc(sizeof(EndEntry) * Max(nall, 1));
	for (j = 0; j < nall; j++)
		if (all[j].end != all[j].published)
			moved[(*n)++] = all[j];
	pfree(all);
	return moved;
}

/* has a readable end moved since the worker last wrote it? */
bool
mq_stream_ends_moved(void)
{
	int			n;
	EndEntry   *moved = moved_ends(&n);

	if (moved)
		pfree(moved);
	return n > 0;
}

/*
 * For the worker, in a transaction: write the readable ends that moved into
 * mq._stream_end, so that standbys read up to them.  An end is computed
 * before the insert, so every append before it has ended when the row
 * commits, and a standby replays their commits before the row's.
 */
void
mq_stream_publish_ends(void)
{
	int			n;
	EndEntry   *moved = moved_ends(&n);
	Datum	   *sids;
	Datum	   *pids;
	Datum	   *ends;
	Datum		values[3];
	Oid			argtypes[3] = {INT4ARRAYOID, INT4ARRAYOID, INT8ARRAYOID};
	int			i;

	if (n == 0)
		return;
	if (!OidIsValid(get_relname_relid("_stream_end", get_namespace_oid("mq", false))))
		return;
	sids = palloc(sizeof(Datum) * n);
	pids = palloc(sizeof(Datum) * n);
	ends = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		sids[i] = Int32GetDatum(moved[i].key.stream_id);
		pids[i] = Int32GetDatum(moved[i].key.partition);
		ends[i] = Int64GetDatum(moved[i].end);
	}
	values[0] = PointerGetDatum(construct_array(sids, n, INT4OID, 4, true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(pids, n, INT4OID, 4, true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(ends, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	mq_spi_connect();
	/* a stream dropped meanwhile has no row in mq._stream: none for it */
	if (mq_execute_as_owner("INSERT INTO mq._stream_end (stream_id, partition, end_position, published_at)"
							" SELECT u.s, u.p, u.e, pg_catalog.now()"
							" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
							"  pg_catalog.unnest($3)) AS u(s, p, e)"
							" WHERE EXISTS (SELECT 1 FROM mq._stream t"
							"  WHERE t.stream_id OPERATOR(pg_catalog.=) u.s)",
							3, argtypes, values, NULL, 0) != SPI_OK_INSERT)
		elog(ERROR, "stream end publication failed");
	SPI_finish();

	LWLockAcquire(stream_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		PartState  *ps = hash_search(parts, &moved[i].key, HASH_FIND, NULL);

		if (ps != NULL && ps->published < moved[i].end)
			ps->published = moved[i].end;
	}
	LWLockRelease(stream_shared->lock);
}

/*
 * The readable end of a partition: the first position still in flight, or
 * the next one to hand out.
 */
int64
mq_stream_readable_end(MqStream *s, int32 partition)
{
	PartKey		key;
	PartState  *ps;
	int64		end;
	int			i;
	int			n;

	/*
	 * A standby knows nothing of the primary's appends in flight: it reads
	 * up to the end the primary's worker last wrote into mq._stream_end
	 * (every append before it had ended, and its commit was replayed
	 * before that row's), or all it has replayed where none was written.
	 */
	if (RecoveryInProgress())
		return published_end(s, partition, PG_INT64_MAX);
	mq_stream_require_shmem();
	part_ensure(s, partition);
	part_key(&key, s, partition);
	LWLockAcquire(stream_shared->lock, LW_SHARED);
	ps = hash_search(parts, &key, HASH_FIND, NULL);
	if (ps == NULL)
		stream_was_dropped(s);
	end = ps->next;
	n = stream_shared->nprocs * MQ_STREAM_INFLIGHT;
	for (i = 0; i < n; i++)
	{
		InFlight   *f = &stream_shared->inflight[i];

		if (f->key.stream_id == key.stream_id && f->key.partition == partition &&
			f->key.dbid == key.dbid && f->first < end)
			end = f->first;
	}
	LWLockRelease(stream_shared->lock);
	return end;
}

/*
 * Insert one record straight into the newest segment through the table
 * access method and the executor's index insertion, as queue sends do
 * (storage_am.c): no plan, no executor start-up.  False when the statement
 * must do it: mq.direct_access is off, the table is not there under its
 * name (a drop; the statement then says what happened), or somebody gave it
 * triggers or another layout.
 */
static bool
insert_one_direct(MqStream *s, int32 partition, int64 position, Datum key,
				  bool knull, Datum headers, bool hnull, Datum body)
{
	static const Oid types[6] = {INT4OID, INT8OID, TEXTOID, JSONBOID, JSONBOID,
	TIMESTAMPTZOID};
	SegmentPlans *sp = segment_entry(s, s->segment);
	char		relname[NAMEDATALEN];
	Relation	rel;
	TupleDesc	desc;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	int			i;

	if (!mq_direct_access)
		return false;
	snprintf(relname, sizeof(relname), "s_%d_%d", s->id, s->segment);
	if (!OidIsValid(sp->relid))
		sp->relid = get_relname_relid(relname, get_namespace_oid("mq", false));
	if (!OidIsValid(sp->relid))
		return false;
	rel = try_table_open(sp->relid, RowExclusiveLock);
	if (rel == NULL)
	{
		sp->relid = InvalidOid;
		return false;
	}
	desc = RelationGetDescr(rel);
	if (strcmp(RelationGetRelationName(rel), relname) != 0 ||
		rel->trigdesc != NULL || desc->natts != 6)
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}
	for (i = 0; i < 6; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != types[i])
		{
			table_close(rel, RowExclusiveLock);
			return false;
		}
	}

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = table_slot_create(rel, NULL);
	ExecClearTuple(slot);
	slot->tts_values[0] = Int32GetDatum(partition);
	slot->tts_values[1] = Int64GetDatum(position);
	slot->tts_values[2] = key;
	slot->tts_values[3] = headers;
	slot->tts_values[4] = body;
	slot->tts_values[5] = TimestampTzGetDatum(GetCurrentTimestamp());
	memset(slot->tts_isnull, 0, sizeof(bool) * 6);
	slot->tts_isnull[2] = knull;
	slot->tts_isnull[3] = hnull;
	ExecStoreVirtualTuple(slot);
	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	mq_insert_index_tuples(rri, slot, estate, MQ_INDEX_ALL);
	ExecDropSingleTupleTableSlot(slot);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	/* the lock stays until the transaction ends, as the statement's would */
	table_close(rel, NoLock);
	CommandCounterIncrement();
	return true;
}

/* insert records: bodies[i] with keys and headers, at the positions given */
static void
insert_records(MqStream *s, int n, int32 *partition, int64 *position,
			   Datum *keys, bool *knulls, Datum *headers, bool *hnulls,
			   Datum *bodies)
{
	Datum		values[6];
	Datum	   *pd;
	Datum	   *qd;
	int			dims[1] = {n};
	int			lbs[1] = {1};
	bool	   *nonulls;
	int			i;

	/* one record: a plain insert, no arrays */
	if (n == 1)
	{
		char		nulls[6] = {' ', ' ', knulls[0] ? 'n' : ' ', hnulls[0] ? 'n' : ' ', ' ', ' '};

		if (insert_one_direct(s, partition[0], position[0], keys[0], knulls[0],
							  headers[0], hnulls[0], bodies[0]))
			return;
		values[0] = Int32GetDatum(partition[0]);
		values[1] = Int64GetDatum(position[0]);
		values[2] = keys[0];
		values[3] = headers[0];
		values[4] = bodies[0];
		values[5] = TimestampTzGetDatum(GetCurrentTimestamp());
		mq_spi_connect();
		if (mq_execute_plan_as_owner(segment_plan(s, s->segment, STREAM_PLAN_INSERT_ONE),
									 values, nulls, 0) != SPI_OK_INSERT)
			elog(ERROR, "stream append failed");
		SPI_finish();
		return;
	}
	pd = palloc(sizeof(Datum) * n);
	qd = palloc(sizeof(Datum) * n);
	nonulls = palloc0(sizeof(bool) * n);

	for (i = 0; i < n; i++)
	{
		pd[i] = Int32GetDatum(partition[i]);
		qd[i] = Int64GetDatum(position[i]);
	}
	values[0] = PointerGetDatum(construct_md_array(pd, nonulls, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_md_array(qd, nonulls, 1, dims, lbs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_md_array(keys, knulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_md_array(headers, hnulls, 1, dims, lbs, JSONBOID, -1, false, TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_md_array(bodies, nonulls, 1, dims, lbs, JSONBOID, -1, false, TYPALIGN_INT));
	values[5] = TimestampTzGetDatum(GetCurrentTimestamp());
	mq_spi_connect();
	if (mq_execute_plan_as_owner(segment_plan(s, s->segment, STREAM_PLAN_INSERT), values,
								 NULL, 0) != SPI_OK_INSERT)
		elog(ERROR, "stream append failed");
	SPI_finish();
}

/* partition of record i: its key's, or the next in turn */
static int32
record_partition(MqStream *s, Datum key, bool isnull)
{
	text	   *t;

	if (isnull)
		return no_key_partition(s->partitions);
	t = DatumGetTextPP(key);
	return key_partition(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), s->partitions);
}

/*
 * Hand out the positions of n records (partition[] set), partition by
 * partition, so that each partition's records get consecutive positions.
 */
static void
take_all_positions(MqStream *s, int n, int32 *partition, int64 *position)
{
	int			i,
				j;
	bool	   *done = palloc0(sizeof(bool) * n);

	for (i = 0; i < n; i++)
	{
		int			count = 0;
		int64		first;

		if (done[i])
			continue;
		for (j = i; j < n; j++)
			if (!done[j] && partition[j] == partition[i])
				count++;
		first = take_positions(s, partition[i], count);
		for (j = i; j < n; j++)
			if (!done[j] && partition[j] == partition[i])
			{
				position[j] = first++;
				done[j] = true;
			}
	}
}

static Datum
position_datum(FunctionCallInfo fcinfo, TupleDesc desc, int32 partition,
			   int64 position)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = Int32GetDatum(partition);
	values[1] = Int64GetDatum(position);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * Append one record, as mq.append does, for a caller that holds privs on
 * the stream (0: none needed); sets its partition and position.  key and
 * headers may be NULL.
 */
void
mq_stream_append_one(text *stream, Jsonb *body, text *key, Jsonb *headers,
					 int privs, int32 *partition, int64 *position)
{
	MqStream	s;
	Datum		keyd = key ? PointerGetDatum(key) : (Datum) 0;
	bool		knull = key == NULL;
	Datum		headersd = headers ? PointerGetDatum(headers) : (Datum) 0;
	bool		hnull = headers == NULL;
	Datum		bodyd = PointerGetDatum(body);

	mq_check_message(body, headers);
	if (privs != 0)
		mq_stream_lookup(stream, &s, privs);
	else
		mq_stream_find(stream, &s);
	*partition = record_partition(&s, keyd, knull);
	take_all_positions(&s, 1, partition, position);
	insert_records(&s, 1, partition, position, &keyd, &knull, &headersd, &hnull, &bodyd);
}

/* mq.append(stream, body, key, headers) returns mq.stream_position */
Datum
mq_append(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	int32		partition;
	int64		position;

	mq_require_primary_fn(fcinfo);
	if (PG_ARGISNULL(0))
		mq_null_argument("stream name");
	if (PG_ARGISNULL(1))
		mq_null_argument("record body");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	mq_stream_append_one(PG_GETARG_TEXT_PP(0), PG_GETARG_JSONB_P(1),
						 PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2),
						 PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3),
						 MQ_PRIV_SEND, &partition, &position);
	PG_RETURN_DATUM(position_datum(fcinfo, BlessTupleDesc(desc), partition, position));
}

/* mq.append_batch(stream, bodies, keys, headers) returns setof mq.stream_position */
Datum
mq_append_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqStream	s;
	MqBatchColumn bodies;
	MqBatchColumn keys;
	MqBatchColumn headers;
	int32	   *partition;
	int64	   *position;
	bool	   *knulls;
	bool	   *hnulls;
	Datum	   *kvals;
	Datum	   *hvals;
	int			n;
	int			i;

	mq_require_primary_fn(fcinfo);
	if (PG_ARGISNULL(0))
		mq_null_argument("stream name");
	if (PG_ARGISNULL(1))
		mq_null_argument("bodies");
	n = mq_batch_column(fcinfo, 1, JSONBOID, "bodies", -1, false, &bodies);
	mq_check_count(n, "batch size");
	mq_batch_column(fcinfo, 2, TEXTOID, "keys", n, true, &keys);
	mq_batch_column(fcinfo, 3, JSONBOID, "headers", n, true, &headers);
	for (i = 0; i < n; i++)
		mq_check_message(DatumGetJsonbP(bodies.values[i]),
						 headers.values && !headers.nulls[i] ?
						 DatumGetJsonbP(headers.values[i]) : NULL);
	mq_stream_lookup(PG_GETARG_TEXT_PP(0), &s, MQ_PRIV_SEND);

	partition = palloc(sizeof(int32) * n);
	position = palloc(sizeof(int64) * n);
	kvals = keys.values ? keys.values : palloc0(sizeof(Datum) * n);
	hvals = headers.values ? headers.values : palloc0(sizeof(Datum) * n);
	knulls = keys.nulls ? keys.nulls : palloc(sizeof(bool) * n);
	hnulls = headers.nulls ? headers.nulls : palloc(sizeof(bool) * n);
	if (!keys.nulls)
		memset(knulls, true, sizeof(bool) * n);
	if (!headers.nulls)
		memset(hnulls, true, sizeof(bool) * n);
	for (i = 0; i < n; i++)
		partition[i] = record_partition(&s, kvals[i], knulls[i]);
	take_all_positions(&s, n, partition, position);
	insert_records(&s, n, partition, position, kvals, knulls, hvals, hnulls,
				   bodies.values);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int32GetDatum(partition[i]);
		values[1] = Int64GetDatum(position[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* mq.read_stream(stream, partition, from_position, max) returns setof mq.stream_record */
Datum
mq_read_stream(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqStream	s;
	int32		partition;
	int64		from;
	int64		max = PG_ARGISNULL(3) ? 100 : PG_GETARG_INT32(3);
	int64		end;

	if (PG_ARGISNULL(0))
		mq_null_argument("stream name");
	if (PG_ARGISNULL(1))
		mq_null_argument("partition");
	if (PG_ARGISNULL(2))
		mq_null_argument("from_position");
	mq_check_count(max, "max");
	partition = PG_GETARG_INT32(1);
	from = PG_GETARG_INT64(2);
	mq_stream_require_read_committed("mq.read_stream()");
	mq_stream_lookup(PG_GETARG_TEXT_PP(0), &s, MQ_PRIV_READ);
	mq_stream_check_partition(&s, partition);
	if (from < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_position must not be negative"),
				 errhint("Positions start at 0.")));

	/* the end first, then the snapshot (each SPI statement takes a new one) */
	end = mq_stream_readable_end(&s, partition);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	(void) mq_stream_read(&s, partition, from, end, max, rsinfo->setResult,
						  rsinfo->setDesc, NULL);
	return (Datum) 0;
}

/*
 * Put up to max records of a partition, from position from up to (not
 * including) end, into ts; returns how many, and in *last (if not NULL) the
 * position of the last one.  Run it in READ COMMITTED after taking end: the
 * statement's snapshot is newer than the end.
 */
/* a record of a read, kept until the read has all its segments' records */
typedef struct ReadRow
{
	int64		position;
	HeapTuple	tuple;
	TupleDesc	desc;
} ReadRow;

static int
cmp_read_rows(const void *a, const void *b)
{
	int64		pa = ((const ReadRow *) a)->position;
	int64		pb = ((const ReadRow *) b)->position;

	return pa < pb ? -1 : pa > pb ? 1 : 0;
}

uint64
mq_stream_read(MqStream *s, int32 partition, int64 from, int64 end, int64 max,
			   Tuplestorestate *ts, TupleDesc desc, int64 *last)
{
	Datum		values[4];
	uint64		n = 0;
	uint64		i;
	ReadRow    *rows = NULL;
	uint64		nrows = 0;
	int32		seg;

	if (from >= end)
		return 0;
	values[0] = Int32GetDatum(partition);
	values[1] = Int64GetDatum(from);
	values[2] = Int64GetDatum(end);
	values[3] = Int64GetDatum(max);
	mq_spi_connect();
	refresh_segments(s);

	/*
	 * Each segment's first max records after from; the records of a
	 * partition are mostly in one segment, but an append that looked the
	 * stream up just before the worker opened a new segment puts its
	 * records in the old one, so the segments' records are merged.
	 */
	for (seg = s->first_segment; seg <= s->segment; seg++)
	{
		uint64		k;

		if (!lock_segment(s, seg))
			continue;
		if (mq_execute_plan_as_owner(segment_plan(s, seg, STREAM_PLAN_READ), values,
									 NULL, 0) != SPI_OK_SELECT)
			elog(ERROR, "stream read failed");
		if (SPI_processed == 0)
			continue;
		rows = rows == NULL ? palloc(sizeof(ReadRow) * SPI_processed) :
			repalloc(rows, sizeof(ReadRow) * (nrows + SPI_processed));
		for (k = 0; k < SPI_processed; k++)
		{
			bool		isnull;

			rows[nrows].tuple = SPI_tuptable->vals[k];
			rows[nrows].desc = SPI_tuptable->tupdesc;
			rows[nrows].position = DatumGetInt64(SPI_getbinval(rows[nrows].tuple,
															   rows[nrows].desc, 2, &isnull));
			nrows++;
		}
	}
	if (nrows > 1 && s->first_segment < s->segment)
		qsort(rows, nrows, sizeof(ReadRow), cmp_read_rows);

	for (i = 0; i < nrows && (int64) i < max; i++)
	{
		Datum		out[6];
		bool		nulls[6];
		int			c;

		for (c = 0; c < 6; c++)
		{
			out[c] = SPI_getbinval(rows[i].tuple, rows[i].desc, c + 1, &nulls[c]);
			/* key, headers, body: no toast pointers leave the call */
			if (!nulls[c] && (c >= 2 && c <= 4))
				out[c] = PointerGetDatum(PG_DETOAST_DATUM_COPY(out[c]));
		}
		/* the tuple store copies the values */
		tuplestore_putvalues(ts, desc, out, nulls);
		if (last != NULL)
			*last = rows[i].position;
		n++;
	}
	SPI_finish();
	return n;
}

/* a stream read needs a new snapshot for each statement */
void
mq_stream_require_read_committed(const char *fn)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot run in a REPEATABLE READ or SERIALIZABLE transaction", fn),
				 errdetail("Its snapshot may be older than the end it reads up to, and it would pass records."),
				 errhint("Read streams in READ COMMITTED transactions.")));
}

void
mq_stream_check_partition(MqStream *s, int32 partition)
{
	if (partition < 0 || partition >= s->partitions)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream \"%s\" has no partition %d", s->name, partition),
				 errhint("Partitions are numbered from 0 to %d.", s->partitions - 1)));
}

/* mq.stream_partition(key, partitions) returns int: the partition of a key */
Datum
mq_stream_partition(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	int32		partitions = PG_GETARG_INT32(1);

	if (partitions < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partitions must be positive"),
				 errhint("Pass the stream's number of partitions (mq.streams).")));
	PG_RETURN_INT32(key_partition(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), partitions));
}

/* take the partitions of stream_id out of shared memory */
static void
forget_stream(int32 stream_id)
{
	HASH_SEQ_STATUS status;
	PartState  *ps;

	LWLockAcquire(stream_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, parts);
	while ((ps = hash_seq_search(&status)) != NULL)
		if (ps->key.dbid == MyDatabaseId && ps->key.stream_id == stream_id)
			hash_search(parts, &ps->key, HASH_REMOVE, NULL);
	LWLockRelease(stream_shared->lock);
}

/*
 * mq._stream_forget(stream_id int): drop_stream's last step.  When the
 * dropping transaction commits (its stream's tables are gone, and their
 * appends in flight ended before that), the stream's partitions leave
 * shared memory, so that dropped streams do not use up
 * mq.max_stream_partitions.  A drop that rolls back forgets nothing.
 */
Datum
mq_stream_forget(PG_FUNCTION_ARGS)
{
	MemoryContext old;

	if (stream_shared == NULL)
		PG_RETURN_VOID();
	if (!callback_registered)
	{
		RegisterXactCallback(stream_xact_callback, NULL);
		RegisterSubXactCallback(stream_subxact_callback, NULL);
		callback_registered = true;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	to_forget = lappend_int(lappend_int(to_forget, PG_GETARG_INT32(0)),
							GetCurrentTransactionNestLevel());
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}
