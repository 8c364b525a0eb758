/*-------------------------------------------------------------------------
 *
 * stream_position.c
 *	  Streams: positions dense in commit order.  The shared memory of each
 *	  partition's next position and of the appends in flight, the
 *	  transaction callbacks that end them, and the readable end a reader
 *	  reads up to.  See src/README.md ("Streams").
 *
 * A sequence does not give readers dense positions in commit order: the
 * transaction that takes N may commit after the one that took N + 1, and a
 * reader that saw N + 1 would go past N.  So positions come from shared
 * memory.  Each partition has its next position; each backend lists the
 * appends its transaction has in flight (stream, partition, first
 * position).  An append takes its positions and lists them under one lock;
 * the transaction callback takes them off the list at commit -- after the
 * commit is visible to others (XACT_EVENT_COMMIT comes after the proc array
 * is updated) -- or at abort, or at the rollback of the savepoint they
 * were made in.  A reader takes the readable end of the
 * partition (the first position still in flight, or the next position)
 * under the same lock and only then its snapshot: every position before the
 * end belongs to an append that has ended, so the reader sees all of them
 * that committed, and it returns none at or past the end.  Rolled-back
 * appends leave gaps.  After a restart nothing is in flight and the next
 * position is found again from the table on first use.
 *
 * A standby has no such memory: it reads up to the readable end the
 * primary's worker last wrote into mq._stream_end (stream_standby.c), and
 * on a primary the next position found after a restart is never below
 * such an end.  The commit callback also wakes the stream's waiting polls,
 * and takes the partitions of a stream whose drop committed out of shared
 * memory, as the abort callback does for a stream whose creation rolled
 * back (its id is never used again, so nobody else can have used them).
 *
 * A partition in shared memory is charged to its stream's owner, and one
 * role's streams hold at most mq.max_stream_partitions_per_role of them
 * (quota.c), so no role can fill mq.max_stream_partitions for the others.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "compat.h"
#include "guc.h"
#include "quota.h"
#include "spi.h"
#include "stream_int.h"
#include "wait.h"
#include "worker_slot.h"

PG_FUNCTION_INFO_V1(mq_stream_forget);
PG_FUNCTION_INFO_V1(mq_stream_made);

StreamShared *mq_stream_shared = NULL;
HTAB	   *mq_stream_parts = NULL;
static HTAB *part_roles = NULL;	/* partitions per owner (quota.c) */
static int	my_inflight = 0;	/* entries this backend has listed */
/* the nesting level of the (sub)transaction that listed each entry */
static int	my_inflight_level[MQ_STREAM_INFLIGHT];
static bool callback_registered = false;
/*
 * Streams dropped by this transaction, as pairs (stream id, nesting level
 * of the drop), forgotten at commit; a rolled-back savepoint takes its own
 * off the list.
 */
static List *to_forget = NIL;

/* streams made by this transaction, the same way: forgotten at abort */
static List *made = NIL;

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
	RequestAddinShmemSpace(mq_quota_shmem_size(mq_max_stream_partitions));
	RequestNamedLWLockTranche("mq streams", 1);
}

void
mq_stream_shmem_startup(void)
{
	bool		found;
	HASHCTL		ctl;

	/* mq.c holds AddinShmemInitLock */
	mq_stream_shared = ShmemInitStruct("mq streams", stream_shmem_size(), &found);
	if (!found)
	{
		mq_stream_shared->lock = &(GetNamedLWLockTranche("mq streams"))->lock;
		mq_stream_shared->nprocs = stream_nprocs();
		memset(mq_stream_shared->inflight, 0,
			   sizeof(InFlight) * mq_stream_shared->nprocs * MQ_STREAM_INFLIGHT);
	}
	ctl.keysize = sizeof(PartKey);
	ctl.entrysize = sizeof(PartState);
	mq_stream_parts = mq_shmem_init_hash("mq stream partitions",
										 mq_max_stream_partitions, &ctl,
										 HASH_ELEM | HASH_BLOBS);
	part_roles = mq_quota_shmem_init("mq stream partitions per role",
									 mq_max_stream_partitions);
}

/* this backend's part of the in-flight table */
static InFlight *
my_slots(void)
{
	int			procno = mq_my_procno();

	if (procno < 0 || procno >= mq_stream_shared->nprocs)
		elog(ERROR, "process number %d out of range", procno);
	return &mq_stream_shared->inflight[procno * MQ_STREAM_INFLIGHT];
}

static void forget_stream(int32 stream_id);
static void stream_xact_callback(XactEvent event, void *arg);
static void stream_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);

static void
register_callbacks(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(stream_xact_callback, NULL);
		RegisterSubXactCallback(stream_subxact_callback, NULL);
		callback_registered = true;
	}
}
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
			if (made != NIL || to_forget != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that created or dropped a stream"),
						 errdetail("The stream's state in shared memory is kept or given back as the transaction ends, which a prepared transaction does in another session.")));
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
			if (made != NIL)
			{
				ListCell   *lc;

				if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
					for (lc = list_head(made); lc != NULL; lc = lnext(made, lnext(made, lc)))
						forget_stream(lfirst_int(lc));
				list_free(made);
				made = NIL;
			}
			if (my_inflight == 0 || mq_stream_shared == NULL)
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
				LWLockAcquire(mq_stream_shared->lock, LW_EXCLUSIVE);
				memset(slots, 0, sizeof(InFlight) * MQ_STREAM_INFLIGHT);
				LWLockRelease(mq_stream_shared->lock);
				my_inflight = 0;

				/*
				 * The appends are visible and no longer hold the readable
				 * end back: wake the stream's waiting polls.
				 */
				if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
					for (j = 0; j < nwoken; j++)
						mq_wake_key_now(MQ_STREAM_WAIT_KEY(woken[j]));
				/* the worker writes the moved ends for standbys */
				mq_worker_wake(MQ_WORK_ENDS);
			}
			break;
		default:
			break;
	}
}

/*
 * The end of a savepoint for a list of (stream id, level) pairs: a
 * released one's pairs move up; a rolled-back one's leave the list, and
 * with forget_now the streams leave shared memory too.
 */
static List *
subxact_list(List *list, SubXactEvent event, int level, bool forget_now)
{
	List	   *kept = NIL;
	ListCell   *lc;
	MemoryContext old;

	old = MemoryContextSwitchTo(TopMemoryContext);
	for (lc = list_head(list); lc != NULL; lc = lnext(list, lnext(list, lc)))
	{
		int			id = lfirst_int(lc);
		int			at = lfirst_int(lnext(list, lc));

		if (at >= level && event == SUBXACT_EVENT_ABORT_SUB)
		{
			if (forget_now)
				forget_stream(id);
			continue;
		}
		kept = lappend_int(lappend_int(kept, id), at >= level ? level - 1 : at);
	}
	list_free(list);
	MemoryContextSwitchTo(old);
	return kept;
}

/*
 * A savepoint ends.  The appends listed since it began move up to its
 * parent when it is released; when it is rolled back their records are
 * gone, so they end now instead of holding the readable end back until the
 * whole transaction ends, and the streams' waiting polls look again.  (An
 * entry listed before the savepoint also covers the positions taken after
 * it: it stays, with its smaller first position.)
 */
static void
subxact_end_appends(bool abort)
{
	int			level = GetCurrentTransactionNestLevel();
	InFlight   *slots = my_slots();
	int32		woken[MQ_STREAM_INFLIGHT];
	int			nwoken = 0;
	int			i;

	for (i = 0; i < MQ_STREAM_INFLIGHT; i++)
	{
		if (slots[i].key.stream_id == 0 || my_inflight_level[i] < level)
			continue;
		if (!abort)
		{
			my_inflight_level[i] = level - 1;
			continue;
		}
		woken[nwoken++] = slots[i].key.stream_id;
		LWLockAcquire(mq_stream_shared->lock, LW_EXCLUSIVE);
		memset(&slots[i], 0, sizeof(InFlight));
		LWLockRelease(mq_stream_shared->lock);
		my_inflight--;
	}
	for (i = 0; i < nwoken; i++)
		mq_wake_key_now(MQ_STREAM_WAIT_KEY(woken[i]));
	if (nwoken > 0)
		mq_worker_wake(MQ_WORK_ENDS);
}

/*
 * A savepoint ends: its appends end or move up (subxact_end_appends());
 * a rolled-back savepoint dropped nothing, and what it made is gone; a
 * released one's drops and streams move up.
 */
static void
stream_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	if (my_inflight > 0 && mq_stream_shared != NULL)
		subxact_end_appends(event == SUBXACT_EVENT_ABORT_SUB);
	if (to_forget != NIL)
		to_forget = subxact_list(to_forget, event, level, false);
	if (made != NIL)
		made = subxact_list(made, event, level, true);
}

bool
mq_stream_shmem_available(void)
{
	return mq_stream_shared != NULL;
}

void
mq_stream_require_shmem(void)
{
	if (mq_stream_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("streams need mq in shared_preload_libraries"),
				 errdetail("Positions are handed out in shared memory, which mq has only when preloaded."),
				 errhint("Add mq to shared_preload_libraries in postgresql.conf and restart.")));
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
	LWLockAcquire(mq_stream_shared->lock, LW_SHARED);
	found = hash_search(mq_stream_parts, &key, HASH_FIND, NULL) != NULL;
	LWLockRelease(mq_stream_shared->lock);
	if (found)
		return;
	next = mq_stream_stored_next(s, partition);
	/* never below an end standbys were told of (its last positions may have rolled back) */
	next = Max(next, published_end(s, partition, 0));
	LWLockAcquire(mq_stream_shared->lock, LW_EXCLUSIVE);
	ps = hash_search(mq_stream_parts, &key, HASH_FIND, &found);
	if (ps == NULL)
	{
		int			limit = mq_quota_limit(mq_max_stream_partitions_per_role,
										   mq_max_stream_partitions);

		/* the whole table (below), then the owner's share */
		if (hash_get_num_entries(mq_stream_parts) < mq_max_stream_partitions &&
			mq_quota_count(part_roles, s->owner) >= limit)
		{
			LWLockRelease(mq_stream_shared->lock);
			mq_quota_exceeded(s->owner, "stream partitions in shared memory",
							  "mq.max_stream_partitions_per_role", limit,
							  "Drop streams the role no longer uses, or raise mq.max_stream_partitions_per_role.");
		}
		if (hash_get_num_entries(mq_stream_parts) < mq_max_stream_partitions)
			ps = hash_search(mq_stream_parts, &key, HASH_ENTER_NULL, &found);
	}
	if (ps == NULL)
	{
		LWLockRelease(mq_stream_shared->lock);
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
		ps->role = s->owner;
		mq_quota_add(part_roles, s->owner, 1);
	}
	LWLockRelease(mq_stream_shared->lock);
}

/*
 * A partition gone from shared memory: its stream's drop committed.  Called
 * with the lock held; does not return.
 */
static void
stream_was_dropped(MqStream *s)
{
	LWLockRelease(mq_stream_shared->lock);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("stream \"%s\" was dropped", s->name)));
}

/*
 * Hand out n positions of a partition and list them as in flight for this
 * transaction; returns the first.
 */
int64
mq_stream_take_positions(MqStream *s, int32 partition, int n)
{
	PartKey		key;
	PartState  *ps;
	InFlight   *slots;
	int64		first;
	int			i;
	int			free_slot = -1;

	mq_stream_require_shmem();
	register_callbacks();
	part_key(&key, s, partition);
	slots = my_slots();
	LWLockAcquire(mq_stream_shared->lock, LW_EXCLUSIVE);
	ps = hash_search(mq_stream_parts, &key, HASH_FIND, NULL);
	if (ps == NULL)
	{
		/* first use since the server started: load it, then look again */
		LWLockRelease(mq_stream_shared->lock);
		part_ensure(s, partition);
		LWLockAcquire(mq_stream_shared->lock, LW_EXCLUSIVE);
		ps = hash_search(mq_stream_parts, &key, HASH_FIND, NULL);
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
			LWLockRelease(mq_stream_shared->lock);
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a transaction can append to at most %d stream partitions",
							MQ_STREAM_INFLIGHT),
					 errhint("Commit more often.")));
		}
		slots[free_slot].key = key;
		slots[free_slot].first = ps->next;
		my_inflight_level[free_slot] = GetCurrentTransactionNestLevel();
		my_inflight++;
	}
	first = ps->next;
	ps->next += n;
	LWLockRelease(mq_stream_shared->lock);
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
	LWLockAcquire(mq_stream_shared->lock, LW_SHARED);
	ps = hash_search(mq_stream_parts, &key, HASH_FIND, NULL);
	if (ps == NULL)
		stream_was_dropped(s);
	end = ps->next;
	n = mq_stream_shared->nprocs * MQ_STREAM_INFLIGHT;
	for (i = 0; i < n; i++)
	{
		InFlight   *f = &mq_stream_shared->inflight[i];

		if (f->key.stream_id == key.stream_id && f->key.partition == partition &&
			f->key.dbid == key.dbid && f->first < end)
			end = f->first;
	}
	LWLockRelease(mq_stream_shared->lock);
	return end;
}

/* take the partitions of stream_id out of shared memory */
static void
forget_stream(int32 stream_id)
{
	HASH_SEQ_STATUS status;
	PartState  *ps;

	LWLockAcquire(mq_stream_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, mq_stream_parts);
	while ((ps = hash_seq_search(&status)) != NULL)
		if (ps->key.dbid == MyDatabaseId && ps->key.stream_id == stream_id)
		{
			mq_quota_add(part_roles, ps->role, -1);
			hash_search(mq_stream_parts, &ps->key, HASH_REMOVE, NULL);
		}
	LWLockRelease(mq_stream_shared->lock);
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

	if (mq_stream_shared == NULL)
		PG_RETURN_VOID();
	register_callbacks();
	old = MemoryContextSwitchTo(TopMemoryContext);
	to_forget = lappend_int(lappend_int(to_forget, PG_GETARG_INT32(0)),
							GetCurrentTransactionNestLevel());
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/*
 * mq._stream_made(stream_id int): create_stream's last step.  If the
 * creating transaction (or savepoint) rolls back, the partitions its
 * appends and reads put into shared memory leave it again.
 */
Datum
mq_stream_made(PG_FUNCTION_ARGS)
{
	MemoryContext old;

	if (mq_stream_shared == NULL)
		PG_RETURN_VOID();
	register_callbacks();
	old = MemoryContextSwitchTo(TopMemoryContext);
	made = lappend_int(lappend_int(made, PG_GETARG_INT32(0)),
					   GetCurrentTransactionNestLevel());
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/* the partitions each role's streams hold, for mq.shared_memory_usage() */
int
mq_stream_role_counts(MqRoleCount **out)
{
	return mq_quota_copy(part_roles, mq_stream_shared != NULL ? mq_stream_shared->lock : NULL, out);
}

/*
 * Forget the partitions of database dbid's streams: its mq extension was
 * just created (stream ids start again at 1) or dropped, or the database
 * was dropped (mq.c).  No append can be in flight in them: they belonged to
 * the dropped extension or database.  Their roles get their share back.
 */
void
mq_stream_forget_database(Oid dbid)
{
	HASH_SEQ_STATUS status;
	PartState  *ps;

	if (mq_stream_shared == NULL)
		return;
	LWLockAcquire(mq_stream_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, mq_stream_parts);
	while ((ps = hash_seq_search(&status)) != NULL)
		if (ps->key.dbid == dbid)
		{
			mq_quota_add(part_roles, ps->role, -1);
			hash_search(mq_stream_parts, &ps->key, HASH_REMOVE, NULL);
		}
	LWLockRelease(mq_stream_shared->lock);
}
