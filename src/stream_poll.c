/*-------------------------------------------------------------------------
 *
 * stream_poll.c
 *	  Streams: mq.poll, a consumer's read of the partitions its consumer
 *	  group gives it.  See src/README.md ("Streams").
 *
 * Every poll is a heartbeat and rebalances (stream_rebalance.c).  A poll
 * delivers records from the holder's fetch position up to the partition's
 * readable end (stream_position.c) and moves the fetch position past them;
 * a poll whose transaction (or savepoint) rolls back moves it back, so its
 * records come again (stream_group.c lists the moves).  It reads each held
 * partition into a scratch tuple store and delivers those records only if
 * the generation and fetch position are still the ones it read from:
 * another poll under the same consumer name may have moved first.  Each
 * poll starts at another of its partitions, so none starves.
 *
 * A new holder starts at the committed position, fenced (see
 * stream_commit.c): before it reads the committed position it starts from,
 * it takes the partition's advisory lock in exclusive mode without waiting
 * (and lets it go at once).  If it gets it, every commit that passed its
 * check has ended and is in the holder's snapshot, and every later commit
 * sees the new holder and fails; if it does not, the partition gives
 * nothing to this poll and the next one tries again.
 *
 * mq.poll(..., wait) sleeps in wait.c without a snapshot, as mq.read
 * does; the commit of an append wakes it once its positions are no longer
 * in flight, so the woken poll finds the readable end moved.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "args.h"
#include "guc.h"
#include "spi.h"
#include "stream_int.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(mq_poll);

/* what a poll needs between its attempts */
typedef struct PollArg
{
	ConsumerGroup	   *g;
	char		consumer[MQ_CONSUMER_MAXLEN + 1];
	int64		timeout;
	int64		max;
	ReturnSetInfo *rsinfo;
} PollArg;

/* a held partition as one attempt sees it */
typedef struct Held
{
	int32		partition;
	uint64		generation;
	int64		start;
	int64		fetch;
} Held;

static uint32 poll_turn = 0;

static SPIPlanPtr committed_plan = NULL;

/* the committed position of a partition (0 if it has none) */
static int64
committed_position(int32 group_id, int32 partition)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2];
	bool		isnull;
	int64		pos = 0;

	args[0] = Int32GetDatum(group_id);
	args[1] = Int32GetDatum(partition);
	mq_spi_connect();
	if (committed_plan == NULL)
		committed_plan = mq_keep_plan("SELECT position FROM mq._stream_commit"
									  " WHERE group_id OPERATOR(pg_catalog.=) $1"
									  " AND partition OPERATOR(pg_catalog.=) $2"
									  " ORDER BY epoch DESC, position DESC LIMIT 1",
									  2, argtypes);
	if (mq_execute_plan_as_owner(committed_plan, args, NULL, 1) != SPI_OK_SELECT)
		elog(ERROR, "committed position look-up failed");
	if (SPI_processed > 0)
		pos = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return pos;
}

/*
 * Start a holder at the committed position, once the commits of former
 * holders have ended (see the file header).  False when some have not.
 */
static bool
take_over(PollArg *pa, Held *h)
{
	LOCKTAG		tag;
	AssignKey	key;
	Assignment *a;
	int64		pos;
	bool		ok = false;

	mq_fence_locktag(&tag, pa->g->id, h->partition);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return false;
	LockRelease(&tag, ExclusiveLock, false);
	pos = committed_position(pa->g->id, h->partition);

	mq_assignment_key(&key, pa->g->id, h->partition);
	LWLockAcquire(mq_consumer_group_shared->lock, LW_EXCLUSIVE);
	a = hash_search(mq_consumer_group_assignments, &key, HASH_FIND, NULL);
	if (a != NULL && a->generation == h->generation &&
		strcmp(a->holder, pa->consumer) == 0)
	{
		if (a->start < 0)
			a->start = a->fetch = pos;
		h->start = a->start;
		h->fetch = a->fetch;
		ok = true;
	}
	LWLockRelease(mq_consumer_group_shared->lock);
	return ok;
}

/*
 * The partitions the consumer holds, as it last polled them, into held;
 * returns how many.  Called with the lock held.
 */
static int
held_partitions(ConsumerGroup *g, const char *consumer, Held *held)
{
	int			nheld = 0;
	int			i;

	for (i = 0; i < g->s.partitions; i++)
	{
		AssignKey	key;
		Assignment *a;

		mq_assignment_key(&key, g->id, i);
		a = hash_search(mq_consumer_group_assignments, &key, HASH_FIND, NULL);
		if (a == NULL || strcmp(a->holder, consumer) != 0)
			continue;
		held[nheld].partition = i;
		held[nheld].generation = a->generation;
		held[nheld].start = a->start;
		held[nheld].fetch = a->fetch;
		nheld++;
	}
	return nheld;
}

/*
 * Read a held partition from its fetch position up to its readable end, at
 * most remaining records, into the poll's result; returns how many it
 * delivered.  *slot is the poll's scratch slot, made on first use.
 */
static int64
poll_partition(PollArg *pa, Held *h, int64 remaining, TupleTableSlot **slot)
{
	ConsumerGroup *g = pa->g;
	int64		end;
	int64		last = -1;
	uint64		n;
	Tuplestorestate *ts;
	AssignKey	key;
	Assignment *a;
	bool		keep = false;
	int64		new_fetch;

	if (h->start < 0 && !take_over(pa, h))
		return 0;
	end = mq_stream_readable_end(&g->s, h->partition);
	if (h->fetch >= end)
		return 0;
	ts = tuplestore_begin_heap(false, false, work_mem);
	n = mq_stream_read(&g->s, h->partition, h->fetch, end, remaining, ts,
					   pa->rsinfo->setDesc, &last);
	new_fetch = (int64) n < remaining ? end : last + 1;

	/* deliver them unless another poll of this consumer moved first */
	mq_assignment_key(&key, g->id, h->partition);
	LWLockAcquire(mq_consumer_group_shared->lock, LW_EXCLUSIVE);
	a = hash_search(mq_consumer_group_assignments, &key, HASH_FIND, NULL);
	if (a != NULL && a->generation == h->generation && a->fetch == h->fetch &&
		strcmp(a->holder, pa->consumer) == 0)
	{
		a->fetch = new_fetch;
		keep = true;
	}
	LWLockRelease(mq_consumer_group_shared->lock);
	if (keep)
	{
		mq_consumer_group_note_poll(&key, h->generation, h->fetch, new_fetch);
		if (*slot == NULL)
			*slot = MakeSingleTupleTableSlot(pa->rsinfo->setDesc, &TTSOpsMinimalTuple);
		while (tuplestore_gettupleslot(ts, true, false, *slot))
			tuplestore_puttupleslot(pa->rsinfo->setResult, *slot);
	}
	tuplestore_end(ts);
	return keep ? (int64) n : 0;
}

/* one poll: heartbeat, rebalance, records of the held partitions */
static bool
poll_attempt(void *arg, TimestampTz *not_before)
{
	PollArg    *pa = (PollArg *) arg;
	ConsumerGroup *g = pa->g;
	Held	   *held = palloc(sizeof(Held) * g->s.partitions);
	int			nheld;
	int			i;
	int64		remaining = pa->max;
	TimestampTz now = GetCurrentTimestamp();
	TupleTableSlot *slot = NULL;

	mq_consumer_group_ensure(g);
	LWLockAcquire(mq_consumer_group_shared->lock, LW_EXCLUSIVE);
	mq_consumer_group_heartbeat(g, pa->consumer, pa->timeout, now);
	nheld = held_partitions(g, pa->consumer, held);
	LWLockRelease(mq_consumer_group_shared->lock);

	/* each poll starts at another of its partitions, so none starves */
	for (i = 0; i < nheld && remaining > 0; i++)
		remaining -= poll_partition(pa, &held[(i + poll_turn) % nheld],
									remaining, &slot);
	poll_turn++;
	if (slot != NULL)
		ExecDropSingleTupleTableSlot(slot);
	pfree(held);
	return remaining < pa->max;
}

/*
 * mq.poll(stream, consumer_group, consumer, max, wait, session_timeout)
 * returns setof mq.stream_record
 */
Datum
mq_poll(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ConsumerGroup g;
	PollArg		pa;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz deadline;
	TimestampTz session_end;

	mq_consumer_arguments(fcinfo, pa.consumer);
	mq_stream_require_read_committed("mq.poll()");
	mq_stream_require_shmem();
	/* the privilege before the other arguments, as mq.read() checks it */
	mq_consumer_group_lookup(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), &g);
	pa.max = PG_ARGISNULL(3) ? 100 : PG_GETARG_INT32(3);
	mq_check_count(pa.max, "max");
	deadline = mq_time_after(fcinfo, 4, now, "wait", false);
	if (deadline - now > (int64) mq_max_wait * 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait exceeds mq.max_wait (%d ms)", mq_max_wait),
				 errhint("Wait at most mq.max_wait, and call mq.poll() again in a loop.")));
	if (PG_ARGISNULL(5))
		mq_null_argument("session_timeout");
	session_end = mq_time_after(fcinfo, 5, now, "session_timeout", true);
	if (session_end - now > (int64) 24 * 3600 * USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("session_timeout must be at most 1 day"),
				 errhint("Give an interval such as '30 seconds': a consumer that stops polling for that long loses its partitions.")));
	pa.timeout = session_end - now;
	mq_consumer_group_register_callbacks();

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	pa.g = &g;
	pa.rsinfo = rsinfo;
	if (deadline > now)
		mq_wait_until(MQ_STREAM_WAIT_KEY(g.s.id), deadline, poll_attempt, &pa);
	else
		(void) poll_attempt(&pa, NULL);
	return (Datum) 0;
}
