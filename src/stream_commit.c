/*-------------------------------------------------------------------------
 *
 * stream_commit.c
 *	  Streams: committed positions of consumer groups.  mq.commit, the step
 *	  of mq.seek in shared memory, and mq.partition_holder.  See
 *	  src/README.md ("Streams").
 *
 * A committed position is an inserted row (group, partition, epoch,
 * position), never an update, in one of two tables that take the commits
 * in turn by the minute (the worker folds the other into it and truncates
 * it; mq._stream_commit is their union): the position of a
 * partition is that of its row with the greatest (epoch, position), so a
 * commit never moves a position back and a late commit of a lower position
 * changes nothing; mq.seek() inserts a row of a new epoch to move it
 * anywhere.
 *
 * Fencing.  mq.commit() checks that its consumer holds the partition, is
 * live and was delivered the records it commits past -- after taking the
 * partition's advisory lock in share mode for the rest of its transaction.
 * A new holder, before it reads the committed position it starts from,
 * takes that lock in exclusive mode without waiting (and lets it go at
 * once): if it gets it, every commit that passed the check has ended and is
 * in the holder's snapshot, and every later commit sees the new holder and
 * fails; if it does not, the partition gives nothing to this poll and the
 * next one tries again.  So a commit by a former holder either counts
 * before the new holder starts or fails; records are processed exactly
 * once when the commit is in the same transaction as their results.  A
 * seek takes the same share lock, so the holder starts again only after
 * the seek commits.
 *
 * A seek changes shared memory only when its transaction commits: it notes
 * (group, partition, epoch) and the commit callback raises the partition's
 * epoch and generation and forgets the holder's start, before the seek's
 * locks go.  A seek that rolls back (or whose savepoint does) leaves the
 * holder as it was, its commits still valid.  Seeks of one partition take
 * a lock of their own in turn (exclusive, till their transaction ends), so
 * that each reads the epoch the previous one left and the last to commit
 * wins.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "args.h"
#include "durability.h"
#include "privilege.h"
#include "spi.h"
#include "stream_int.h"

PG_FUNCTION_INFO_V1(mq_commit);
PG_FUNCTION_INFO_V1(mq_group_reset);
PG_FUNCTION_INFO_V1(mq_partition_holder);

/* advisory lock tag space of the locks that order seeks: "mt" */
#define MQ_LOCKTAG_SEEK 0x6d74

static SPIPlanPtr commit_plans[2] = {NULL, NULL};

/* a seek of this transaction, applied to shared memory at commit */
typedef struct PendingSeek
{
	AssignKey	key;
	int64		epoch;
	int			level;			/* nesting level of the (sub)transaction */
} PendingSeek;

static List *pending_seeks = NIL;	/* in TopMemoryContext */
static bool seek_callbacks_registered = false;

/* the seeks committed: the holder starts again from the committed position */
static void
apply_seeks(void)
{
	ListCell   *lc;

	LWLockAcquire(mq_consumer_group_shared->lock, LW_EXCLUSIVE);
	foreach(lc, pending_seeks)
	{
		PendingSeek *ps = lfirst(lc);
		Assignment *a;

		a = hash_search(mq_consumer_group_assignments, &ps->key, HASH_FIND, NULL);
		if (a == NULL)
			continue;			/* gone: it will load the epoch from the table */
		a->epoch = Max(a->epoch, ps->epoch);
		a->generation++;
		a->start = a->fetch = -1;
	}
	LWLockRelease(mq_consumer_group_shared->lock);
}

static void
seek_xact_callback(XactEvent event, void *arg)
{
	if (pending_seeks == NIL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot PREPARE a transaction that sought a consumer group"),
					 errdetail("The partition's holder would go on until the prepared transaction ends.")));
			return;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			apply_seeks();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			break;
		default:
			return;
	}
	list_free_deep(pending_seeks);
	pending_seeks = NIL;
}

/* a rolled-back savepoint's seeks never happened; a released one's move up */
static void
seek_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (pending_seeks == NIL ||
		(event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	foreach(lc, pending_seeks)
	{
		PendingSeek *ps = lfirst(lc);

		if (ps->level < level)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			ps->level = level - 1;
		else
		{
			pending_seeks = foreach_delete_current(pending_seeks, lc);
			pfree(ps);
		}
	}
}

/*
 * mq.commit()'s check, once it holds the fence: the consumer is live,
 * holds the partition, has polled it in its current generation and was
 * given the position.  False when the position is not past the committed
 * one (there is nothing to insert); else *epoch is the partition's.
 */
static bool
check_commit(ConsumerGroup *g, const char *consumer, int32 partition,
			 int64 position, TimestampTz now, int64 *epoch)
{
	AssignKey	key;
	MemberKey	mkey;
	Assignment *a;
	Member	   *m;
	int64		start = -1;
	int64		fetch = -1;
	bool		live;
	char		holder[MQ_CONSUMER_MAXLEN + 1];

	*epoch = 0;
	mq_assignment_key(&key, g->id, partition);
	memset(&mkey, 0, sizeof(mkey));
	mkey.dbid = MyDatabaseId;
	mkey.group_id = g->id;
	memcpy(mkey.consumer, consumer, sizeof(mkey.consumer));
	holder[0] = '\0';
	LWLockAcquire(mq_consumer_group_shared->lock, LW_SHARED);
	a = hash_search(mq_consumer_group_assignments, &key, HASH_FIND, NULL);
	m = hash_search(mq_consumer_group_members, &mkey, HASH_FIND, NULL);
	live = m != NULL && m->last_poll + m->timeout >= now;
	if (a != NULL)
	{
		strlcpy(holder, a->holder, sizeof(holder));
		*epoch = a->epoch;
		start = a->start;
		fetch = a->fetch;
	}
	LWLockRelease(mq_consumer_group_shared->lock);

	if (strcmp(holder, consumer) != 0 || !live)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("consumer \"%s\" does not hold partition %d of consumer group \"%s\"",
						consumer, partition, g->name),
				 !live ? errdetail("Its session timed out, or it has not polled since the server started.") :
				 holder[0] ? errdetail("The partition is held by consumer \"%s\".", holder) :
				 errdetail("The partition has no holder."),
				 errhint("Roll back: the partition's holder gets these records again from the committed position. Then poll again.")));
	if (start < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("consumer \"%s\" has not polled partition %d of consumer group \"%s\" since it was assigned or sought",
						consumer, partition, g->name),
				 errhint("Roll back and poll again: the records come again from the committed position.")));
	if (position > fetch)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("position " INT64_FORMAT " of partition %d has not been delivered to consumer \"%s\"",
						position, partition, consumer),
				 errdetail("The records delivered to it end before position " INT64_FORMAT ".", fetch),
				 errhint("Commit the position after the last record processed (its position + 1).")));
	if (position <= start)
		return false;			/* never behind the committed position */
	return true;
}

/* insert the row of a commit into the table in turn */
static void
insert_commit(ConsumerGroup *g, int32 partition, int64 epoch, int64 position,
			  const char *consumer)
{
	Oid			argtypes[5] = {INT4OID, INT4OID, INT8OID, INT8OID, TEXTOID};
	Datum		args[5];

	/* the table in turn this minute (mq._commit_table() agrees) */
	int			t = (int) ((GetCurrentTimestamp() / USECS_PER_MINUTE) % 2);

	args[0] = Int32GetDatum(g->id);
	args[1] = Int32GetDatum(partition);
	args[2] = Int64GetDatum(epoch);
	args[3] = Int64GetDatum(position);
	args[4] = CStringGetTextDatum(consumer);
	mq_spi_connect();
	if (commit_plans[t] == NULL)
		commit_plans[t] = mq_keep_plan(psprintf("INSERT INTO mq._stream_commit_%d"
												" (group_id, partition, epoch, position, consumer, committed_at)"
												" VALUES ($1, $2, $3, $4, $5, pg_catalog.now())", t),
									   5, argtypes);
	if (mq_execute_plan_as_owner(commit_plans[t], args, NULL, 0) != SPI_OK_INSERT)
		elog(ERROR, "stream commit failed");
	SPI_finish();
}

/*
 * mq.commit(stream, consumer_group, consumer, partition, position): the
 * group's position of the partition is position (the next to read), in the
 * caller's transaction.
 */
Datum
mq_commit(PG_FUNCTION_ARGS)
{
	ConsumerGroup g;
	char		consumer[MQ_CONSUMER_MAXLEN + 1];
	int32		partition;
	int64		position;
	LOCKTAG		tag;
	int64		epoch;
	TimestampTz now = GetCurrentTimestamp();

	mq_consumer_arguments(fcinfo, consumer);
	if (PG_ARGISNULL(3))
		mq_null_argument("partition");
	if (PG_ARGISNULL(4))
		mq_null_argument("position");
	partition = PG_GETARG_INT32(3);
	position = PG_GETARG_INT64(4);
	mq_stream_require_shmem();
	mq_consumer_group_lookup(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), &g);
	mq_stream_check_partition(&g.s, partition);
	if (position < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("position must not be negative"),
				 errhint("Commit the position after the last record processed (its position + 1).")));

	/* first the fence, then the check (see the file header) */
	mq_fence_locktag(&tag, g.id, partition);
	(void) LockAcquire(&tag, ShareLock, false, false);

	if (check_commit(&g, consumer, partition, position, now, &epoch))
	{
		mq_durability_wait(g.s.min_replicas);
		insert_commit(&g, partition, epoch, position, consumer);
	}
	PG_RETURN_VOID();
}

/*
 * mq._group_reset(stream text, group_id int, partition int) returns bigint:
 * mq.seek()'s step in shared memory.  Fences the partition for the rest of
 * the transaction and returns the next epoch, for the seek's row; when the
 * transaction commits the partition takes that epoch and a new generation,
 * and the holder starts again at the committed position (see the file
 * header).
 */
Datum
mq_group_reset(PG_FUNCTION_ARGS)
{
	ConsumerGroup g;
	int32		partition = PG_GETARG_INT32(2);
	LOCKTAG		tag;
	Assignment *a;
	PendingSeek *ps;
	MemoryContext old;
	ListCell   *lc;

	mq_stream_require_shmem();
	mq_stream_lookup(PG_GETARG_TEXT_PP(0), &g.s, MQ_PRIV_READ);
	g.id = PG_GETARG_INT32(1);
	strlcpy(g.name, "", sizeof(g.name));
	mq_stream_check_partition(&g.s, partition);
	if (!seek_callbacks_registered)
	{
		RegisterXactCallback(seek_xact_callback, NULL);
		RegisterSubXactCallback(seek_subxact_callback, NULL);
		seek_callbacks_registered = true;
	}
	/* after the seeks before this one, then the fence */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) g.id, (uint32) partition,
						 MQ_LOCKTAG_SEEK);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	mq_fence_locktag(&tag, g.id, partition);
	(void) LockAcquire(&tag, ShareLock, false, false);
	mq_consumer_group_ensure(&g);

	old = MemoryContextSwitchTo(TopMemoryContext);
	ps = palloc0(sizeof(PendingSeek));
	MemoryContextSwitchTo(old);
	mq_assignment_key(&ps->key, g.id, partition);
	ps->level = GetCurrentTransactionNestLevel();
	LWLockAcquire(mq_consumer_group_shared->lock, LW_SHARED);
	a = hash_search(mq_consumer_group_assignments, &ps->key, HASH_FIND, NULL);
	if (a != NULL)
		ps->epoch = a->epoch + 1;
	LWLockRelease(mq_consumer_group_shared->lock);
	if (a == NULL)
	{
		pfree(ps);
		mq_consumer_group_too_many_partitions();
	}
	/* after this transaction's own seeks of the partition, too */
	foreach(lc, pending_seeks)
	{
		PendingSeek *earlier = lfirst(lc);

		if (memcmp(&earlier->key, &ps->key, sizeof(AssignKey)) == 0)
			ps->epoch = Max(ps->epoch, earlier->epoch + 1);
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	pending_seeks = lappend(pending_seeks, ps);
	MemoryContextSwitchTo(old);
	PG_RETURN_INT64(ps->epoch);
}

/*
 * mq.partition_holder(stream, consumer_group, partition, OUT consumer,
 * OUT held_until): the live holder of a group's partition, if any.
 */
Datum
mq_partition_holder(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[2] = {0, 0};
	bool		nulls[2] = {true, true};
	ConsumerGroup g;
	int32		partition = PG_GETARG_INT32(2);
	AssignKey	key;
	MemberKey	mkey;
	Assignment *a;
	Member	   *m;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	mq_consumer_group_find(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), &g);
	mq_stream_check_partition(&g.s, partition);
	if (mq_consumer_group_shared != NULL && !RecoveryInProgress())
	{
		mq_assignment_key(&key, g.id, partition);
		LWLockAcquire(mq_consumer_group_shared->lock, LW_SHARED);
		a = hash_search(mq_consumer_group_assignments, &key, HASH_FIND, NULL);
		if (a != NULL && a->holder[0] != '\0')
		{
			memset(&mkey, 0, sizeof(mkey));
			mkey.dbid = MyDatabaseId;
			mkey.group_id = key.group_id;
			strlcpy(mkey.consumer, a->holder, sizeof(mkey.consumer));
			m = hash_search(mq_consumer_group_members, &mkey, HASH_FIND, NULL);
			if (m != NULL && m->last_poll + m->timeout >= GetCurrentTimestamp())
			{
				values[0] = CStringGetTextDatum(a->holder);
				values[1] = TimestampTzGetDatum(m->last_poll + m->timeout);
				nulls[0] = nulls[1] = false;
			}
		}
		LWLockRelease(mq_consumer_group_shared->lock);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
