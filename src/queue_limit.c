/*-------------------------------------------------------------------------
 *
 * queue_limit.c
 *	  Rate limits, the turn order of fair queues and the group locks of
 *	  group_concurrency.  See src/README.md ("Fairness and limits").
 *
 * Token buckets live in shared memory, one per rate-limited queue and one
 * per group of a queue with group_rate_limit, in one hash table under one
 * LWLock.  A bucket holds at most one interval's worth of tokens (the
 * burst) and refills continuously.  A bucket that has refilled to its
 * burst says nothing a fresh one would not, so when the table is full such
 * a bucket makes room; when none has, the group gets no token (it is held
 * back, never let through unlimited).
 *
 * Tokens a transaction took are listed here and given back if it (or the
 * subtransaction that took them) aborts: a rolled-back read delivered
 * nothing.  Fair queues keep where their turn order stands in a second
 * table; without preloading, each backend keeps its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "guc.h"
#include "queue_limit.h"

/* queues with a rate limit or a fair turn order at once, per cluster */
#define MQ_LIMIT_QUEUES 1024

/* the lock tag of a group lock: advisory, in a space SQL cannot reach */
#define MQ_LOCKTAG_GROUP 0x6d71

typedef struct BucketKey
{
	Oid			dbid;
	int32		queue_id;
	uint64		group_hash;		/* 0: the queue's own bucket */
} BucketKey;

typedef struct Bucket
{
	BucketKey	key;
	double		tokens;
	TimestampTz refilled_at;
	double		per_us;			/* refill rate, as last used */
	double		burst;
} Bucket;

typedef struct QueueKey
{
	Oid			dbid;
	int32		queue_id;
} QueueKey;

typedef struct QueueState
{
	QueueKey	key;
	TimestampTz used_at;
	uint64		held_back;		/* reads the queue's rate limit held back */
	uint64		group_held_back;	/* groups a group rate limit held back */
	MqFairCursor cursor;
} QueueState;

typedef struct LimitsShared
{
	LWLock	   *lock;
} LimitsShared;

static LimitsShared *limits_shared = NULL;
static HTAB *buckets = NULL;
static HTAB *queues = NULL;

/* without shared memory: this backend's turn orders */
static HTAB *local_cursors = NULL;

/* tokens taken by this transaction, given back if it aborts */
typedef struct TakenTokens
{
	int32		queue_id;
	uint64		group_hash;
	MqRate		rate;
	int64		n;
	int			level;			/* transaction nesting level */
} TakenTokens;

static TakenTokens *taken = NULL;
static int	ntaken = 0;
static int	maxtaken = 0;
static bool callbacks_registered = false;

void
mq_limits_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(LimitsShared)));
	RequestAddinShmemSpace(hash_estimate_size(mq_max_rate_groups, sizeof(Bucket)));
	RequestAddinShmemSpace(hash_estimate_size(MQ_LIMIT_QUEUES, sizeof(QueueState)));
	RequestNamedLWLockTranche("mq limits", 1);
}

void
mq_limits_shmem_startup(void)
{
	bool		found;
	HASHCTL		ctl;

	/* mq.c holds AddinShmemInitLock */
	limits_shared = ShmemInitStruct("mq limits", sizeof(LimitsShared), &found);
	if (!found)
		limits_shared->lock = &(GetNamedLWLockTranche("mq limits"))->lock;
	ctl.keysize = sizeof(BucketKey);
	ctl.entrysize = sizeof(Bucket);
	buckets = mq_shmem_init_hash("mq rate buckets", mq_max_rate_groups, &ctl,
								 HASH_ELEM | HASH_BLOBS);
	ctl.keysize = sizeof(QueueKey);
	ctl.entrysize = sizeof(QueueState);
	queues = mq_shmem_init_hash("mq queue limits", MQ_LIMIT_QUEUES, &ctl,
								HASH_ELEM | HASH_BLOBS);
}

bool
mq_limits_available(void)
{
	return limits_shared != NULL;
}

uint64
mq_limits_group_hash(const char *key, int len)
{
	uint64		h = hash_bytes_extended((const unsigned char *) key, len, 0x6d71);

	return h == 0 ? 1 : h;		/* 0 is the queue's own bucket */
}

/* refill b up to now at its rate */
static void
bucket_refill(Bucket *b, TimestampTz now)
{
	if (now > b->refilled_at)
	{
		b->tokens = Min(b->burst, b->tokens + (double) (now - b->refilled_at) * b->per_us);
		b->refilled_at = now;
	}
}

/* a bucket of this table that has refilled to its burst, or NULL */
static Bucket *
bucket_evictable(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	Bucket	   *b;

	hash_seq_init(&status, buckets);
	while ((b = hash_seq_search(&status)) != NULL)
	{
		bucket_refill(b, now);
		if (b->tokens >= b->burst)
		{
			hash_seq_term(&status);
			return b;
		}
	}
	return NULL;
}

static void
limits_xact_callback(XactEvent event, void *arg);
static void
limits_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg);

static void
remember_taken(int32 queue_id, uint64 group_hash, const MqRate *rate, int64 n)
{
	int			level = GetCurrentTransactionNestLevel();

	if (!callbacks_registered)
	{
		RegisterXactCallback(limits_xact_callback, NULL);
		RegisterSubXactCallback(limits_subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (ntaken > 0)
	{
		TakenTokens *t = &taken[ntaken - 1];

		if (t->queue_id == queue_id && t->group_hash == group_hash &&
			t->level == level)
		{
			t->n += n;
			return;
		}
	}
	if (ntaken == maxtaken)
	{
		maxtaken = Max(16, maxtaken * 2);
		taken = taken == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(TakenTokens) * maxtaken) :
			repalloc(taken, sizeof(TakenTokens) * maxtaken);
	}
	taken[ntaken].queue_id = queue_id;
	taken[ntaken].group_hash = group_hash;
	taken[ntaken].rate = *rate;
	taken[ntaken].n = n;
	taken[ntaken].level = level;
	ntaken++;
}

int64
mq_limits_take(int32 queue_id, uint64 group_hash, const MqRate *rate,
			   int64 want, TimestampTz now, TimestampTz *next_at)
{
	BucketKey	key;
	Bucket	   *b;
	bool		found;
	int64		got;

	if (rate->limit <= 0 || want <= 0)
		return want;
	if (limits_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rate limits need mq in shared_preload_libraries"),
				 errhint("Add mq to shared_preload_libraries and restart, or clear the queue's rate_limit and group_rate_limit with mq.alter_queue().")));

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.queue_id = queue_id;
	key.group_hash = group_hash;

	LWLockAcquire(limits_shared->lock, LW_EXCLUSIVE);
	b = hash_search(buckets, &key, HASH_FIND, NULL);
	if (b == NULL)
	{
		/* the table holds mq.max_rate_groups buckets: make room if full */
		if (hash_get_num_entries(buckets) >= mq_max_rate_groups)
		{
			Bucket	   *old = bucket_evictable(now);

			if (old != NULL)
				hash_search(buckets, &old->key, HASH_REMOVE, NULL);
		}
		if (hash_get_num_entries(buckets) < mq_max_rate_groups)
			b = hash_search(buckets, &key, HASH_ENTER_NULL, &found);
		if (b == NULL)
		{
			/* no room and nothing to evict: hold the group back */
			LWLockRelease(limits_shared->lock);
			if (next_at)
				*next_at = TimestampTzPlusMilliseconds(now, 10);
			return 0;
		}
		b->tokens = rate->limit;
		b->refilled_at = now;
	}
	/* the queue's options may have changed since the bucket was made */
	b->burst = rate->limit;
	b->per_us = (double) rate->limit / (double) rate->interval_us;
	bucket_refill(b, now);
	got = Min(want, (int64) floor(b->tokens));
	b->tokens -= got;
	if (got < want && next_at != NULL)
	{
		double		wait_us = (1.0 - b->tokens) / b->per_us;

		*next_at = now + (TimestampTz) Min(ceil(wait_us), (double) PG_INT64_MAX / 4);
	}
	LWLockRelease(limits_shared->lock);

	if (got > 0)
		remember_taken(queue_id, group_hash, rate, got);
	return got;
}

/* give n tokens back to a bucket (capped at its burst) */
static void
bucket_give_back(int32 queue_id, uint64 group_hash, int64 n)
{
	BucketKey	key;
	Bucket	   *b;

	if (limits_shared == NULL || n <= 0)
		return;
	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.queue_id = queue_id;
	key.group_hash = group_hash;
	LWLockAcquire(limits_shared->lock, LW_EXCLUSIVE);
	b = hash_search(buckets, &key, HASH_FIND, NULL);
	if (b != NULL)
		b->tokens = Min(b->burst, b->tokens + n);
	LWLockRelease(limits_shared->lock);
}

/* give back n of the tokens this transaction took (unused ones) */
void
mq_limits_give_back(int32 queue_id, uint64 group_hash, const MqRate *rate,
					int64 n)
{
	int			i;
	int64		left = n;

	if (rate->limit <= 0 || n <= 0)
		return;
	bucket_give_back(queue_id, group_hash, n);
	/* no longer to be given back at abort */
	for (i = ntaken - 1; i >= 0 && left > 0; i--)
	{
		TakenTokens *t = &taken[i];

		if (t->queue_id == queue_id && t->group_hash == group_hash)
		{
			int64		k = Min(left, t->n);

			t->n -= k;
			left -= k;
		}
	}
}

/* give back what was taken at nesting level >= level */
static void
give_back_from(int level)
{
	while (ntaken > 0 && taken[ntaken - 1].level >= level)
	{
		TakenTokens *t = &taken[--ntaken];

		bucket_give_back(t->queue_id, t->group_hash, t->n);
	}
}

static void
limits_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			give_back_from(0);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			ntaken = 0;
			break;
		default:
			break;
	}
}

static void
limits_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i;

	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			give_back_from(level);
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			for (i = 0; i < ntaken; i++)
				if (taken[i].level >= level)
					taken[i].level = level - 1;
			break;
		default:
			break;
	}
}

/*
 * The queue's entry of the shared table, made if missing (the least
 * recently used one makes room).  Holds the lock exclusively.
 */
static QueueState *
queue_state(int32 queue_id, bool create)
{
	QueueKey	key;
	QueueState *qs;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.queue_id = queue_id;
	qs = hash_search(queues, &key, HASH_FIND, NULL);
	if (qs != NULL || !create)
		return qs;
	qs = NULL;
	if (hash_get_num_entries(queues) < MQ_LIMIT_QUEUES)
		qs = hash_search(queues, &key, HASH_ENTER_NULL, &found);
	if (qs == NULL)
	{
		HASH_SEQ_STATUS status;
		QueueState *e;
		QueueState *oldest = NULL;

		hash_seq_init(&status, queues);
		while ((e = hash_seq_search(&status)) != NULL)
			if (oldest == NULL || e->used_at < oldest->used_at)
				oldest = e;
		if (oldest != NULL)
			hash_search(queues, &oldest->key, HASH_REMOVE, NULL);
		qs = hash_search(queues, &key, HASH_ENTER, &found);
	}
	memset((char *) qs + sizeof(QueueKey), 0, sizeof(QueueState) - sizeof(QueueKey));
	return qs;
}

void
mq_limits_count_held_back(int32 queue_id, bool group)
{
	QueueState *qs;

	if (limits_shared == NULL)
		return;
	LWLockAcquire(limits_shared->lock, LW_EXCLUSIVE);
	qs = queue_state(queue_id, true);
	if (group)
		qs->group_held_back++;
	else
		qs->held_back++;
	qs->used_at = GetCurrentTimestamp();
	LWLockRelease(limits_shared->lock);
}

/* a copy of the queue's entry of the shared table; false if it has none */
static bool
queue_state_copy(int32 queue_id, QueueState *copy)
{
	QueueState *qs;

	LWLockAcquire(limits_shared->lock, LW_SHARED);
	qs = queue_state(queue_id, false);
	if (qs != NULL)
		*copy = *qs;
	LWLockRelease(limits_shared->lock);
	return qs != NULL;
}

void
mq_limits_stats(int32 queue_id, uint64 *held_back, uint64 *group_held_back)
{
	QueueState	qs;

	*held_back = *group_held_back = 0;
	if (limits_shared != NULL && queue_state_copy(queue_id, &qs))
	{
		*held_back = qs.held_back;
		*group_held_back = qs.group_held_back;
	}
}

typedef struct LocalCursor
{
	int32		queue_id;
	MqFairCursor cursor;
} LocalCursor;

static LocalCursor *
local_cursor(int32 queue_id)
{
	bool		found;
	LocalCursor *lc;

	if (local_cursors == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(LocalCursor);
		ctl.hcxt = TopMemoryContext;
		local_cursors = hash_create("mq fair cursors", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	lc = hash_search(local_cursors, &queue_id, HASH_ENTER, &found);
	if (!found)
		lc->cursor.valid = false;
	return lc;
}

void
mq_fair_cursor_get(int32 queue_id, MqFairCursor *cursor)
{
	QueueState	qs;

	if (limits_shared == NULL)
		*cursor = local_cursor(queue_id)->cursor;
	else if (queue_state_copy(queue_id, &qs))
		*cursor = qs.cursor;
	else
		cursor->valid = false;
}

void
mq_fair_cursor_set(int32 queue_id, const MqFairCursor *cursor)
{
	QueueState *qs;

	if (limits_shared == NULL)
	{
		local_cursor(queue_id)->cursor = *cursor;
		return;
	}
	LWLockAcquire(limits_shared->lock, LW_EXCLUSIVE);
	qs = queue_state(queue_id, true);
	qs->cursor = *cursor;
	qs->used_at = GetCurrentTimestamp();
	LWLockRelease(limits_shared->lock);
}

static void
group_locktag(LOCKTAG *tag, int32 queue_id, uint64 group_hash)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) queue_id,
						 (uint32) (group_hash ^ (group_hash >> 32)),
						 MQ_LOCKTAG_GROUP);
}

/*
 * Take a group's lock without waiting; false if another backend holds it.
 * A transaction-level lock, released by mq_message_group_lock_release() when the
 * walk ends (or by the abort of the transaction).
 */
bool
mq_message_group_lock_try(int32 queue_id, uint64 group_hash)
{
	LOCKTAG		tag;

	group_locktag(&tag, queue_id, group_hash);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

void
mq_message_group_lock_release(int32 queue_id, uint64 group_hash)
{
	LOCKTAG		tag;

	group_locktag(&tag, queue_id, group_hash);
	LockRelease(&tag, ExclusiveLock, false);
}

/*
 * Forget the buckets and turn orders of this database's queues: its mq
 * extension was just created, and queue ids start again at 1 (mq.c).
 */
void
mq_limits_forget_database(void)
{
	HASH_SEQ_STATUS status;
	Bucket	   *b;
	QueueState *qs;

	if (limits_shared == NULL)
		return;
	LWLockAcquire(limits_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, buckets);
	while ((b = hash_seq_search(&status)) != NULL)
		if (b->key.dbid == MyDatabaseId)
			hash_search(buckets, &b->key, HASH_REMOVE, NULL);
	hash_seq_init(&status, queues);
	while ((qs = hash_seq_search(&status)) != NULL)
		if (qs->key.dbid == MyDatabaseId)
			hash_search(queues, &qs->key, HASH_REMOVE, NULL);
	LWLockRelease(limits_shared->lock);
}
