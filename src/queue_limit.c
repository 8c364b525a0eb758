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
 * Each bucket is charged to the owner of its queue, and no role's queues
 * hold more than mq.max_rate_groups_per_role buckets (quota.c): a role at
 * its limit makes room only from its own refilled buckets, else its new
 * group is held back.  When the table is full and nothing has refilled, a
 * role with fewer buckets than the role that holds the most takes that
 * role's least recently used bucket (whose group starts again with a full
 * burst: the price of holding more than its share), so a role whose
 * buckets never refill (a long rate_interval) cannot starve the others.
 * A queue's buckets go when its drop commits, or when the alter that clears
 * its group_rate_limit commits (mq._queue_forget()).
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
#include "fmgr.h"
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
#include "quota.h"

PG_FUNCTION_INFO_V1(mq_queue_forget);

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
	Oid			role;			/* charged to: the queue's owner */
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
static HTAB *bucket_roles = NULL;	/* buckets per role (quota.c) */
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

/*
 * Queues whose buckets go when this transaction commits: pairs of
 * (queue id, nesting level), and whether only the groups' buckets go
 */
typedef struct ForgetQueue
{
	int32		queue_id;
	bool		groups_only;
	int			level;
} ForgetQueue;

static List *to_forget = NIL;

void
mq_limits_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(LimitsShared)));
	RequestAddinShmemSpace(hash_estimate_size(mq_max_rate_groups, sizeof(Bucket)));
	RequestAddinShmemSpace(mq_quota_shmem_size(mq_max_rate_groups));
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
	bucket_roles = mq_quota_shmem_init("mq rate buckets per role",
									   mq_max_rate_groups);
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

/*
 * A bucket of this table that has refilled to its burst (of role's queues
 * unless role is InvalidOid), or NULL
 */
static Bucket *
bucket_evictable(TimestampTz now, Oid role)
{
	HASH_SEQ_STATUS status;
	Bucket	   *b;

	hash_seq_init(&status, buckets);
	while ((b = hash_seq_search(&status)) != NULL)
	{
		if (OidIsValid(role) && b->role != role)
			continue;
		bucket_refill(b, now);
		if (b->tokens >= b->burst)
		{
			hash_seq_term(&status);
			return b;
		}
	}
	return NULL;
}

/* the least recently used bucket of role's queues, or NULL */
static Bucket *
bucket_least_used(Oid role)
{
	HASH_SEQ_STATUS status;
	Bucket	   *b;
	Bucket	   *lru = NULL;

	hash_seq_init(&status, buckets);
	while ((b = hash_seq_search(&status)) != NULL)
		if (b->role == role && (lru == NULL || b->refilled_at < lru->refilled_at))
			lru = b;
	return lru;
}

static void
bucket_remove(Bucket *b)
{
	mq_quota_add(bucket_roles, b->role, -1);
	hash_search(buckets, &b->key, HASH_REMOVE, NULL);
}

/*
 * Room for a new bucket of role's queues, if it may have one (see the file
 * header); false if its group is to be held back.  Called with the lock
 * held exclusively.
 */
static bool
bucket_make_room(Oid role, TimestampTz now)
{
	int			mine = mq_quota_count(bucket_roles, role);
	Bucket	   *old;

	if (mine >= mq_quota_limit(mq_max_rate_groups_per_role, mq_max_rate_groups))
	{
		/* at its limit: only its own refilled buckets make room */
		old = bucket_evictable(now, role);
		if (old == NULL)
			return false;
		bucket_remove(old);
		return true;
	}
	if (hash_get_num_entries(buckets) < mq_max_rate_groups)
		return true;
	old = bucket_evictable(now, InvalidOid);
	if (old == NULL)
	{
		int			most;
		Oid			largest = mq_quota_largest(bucket_roles, &most);

		/* a role under the largest one's count takes from it */
		if (!OidIsValid(largest) || most <= mine + 1)
			return false;
		old = bucket_least_used(largest);
		if (old == NULL)
			return false;
	}
	bucket_remove(old);
	return true;
}

static void
limits_xact_callback(XactEvent event, void *arg);
static void
limits_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg);

static void
register_callbacks(void)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(limits_xact_callback, NULL);
		RegisterSubXactCallback(limits_subxact_callback, NULL);
		callbacks_registered = true;
	}
}

static void
remember_taken(int32 queue_id, uint64 group_hash, const MqRate *rate, int64 n)
{
	int			level = GetCurrentTransactionNestLevel();

	register_callbacks();
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
mq_limits_take(int32 queue_id, Oid owner, uint64 group_hash,
			   const MqRate *rate, int64 want, TimestampTz now,
			   TimestampTz *next_at)
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
		/* mq.max_rate_groups in all, and the owner's limit of them */
		if (bucket_make_room(owner, now) &&
			hash_get_num_entries(buckets) < mq_max_rate_groups)
			b = hash_search(buckets, &key, HASH_ENTER_NULL, &found);
		if (b == NULL)
		{
			/* no room and nothing to evict: hold the group back */
			LWLockRelease(limits_shared->lock);
			if (next_at)
				*next_at = TimestampTzPlusMilliseconds(now, 10);
			return 0;
		}
		b->role = owner;
		mq_quota_add(bucket_roles, owner, 1);
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

/* take the buckets (and counters) of a dropped queue out of shared memory */
static void
forget_queue(int32 queue_id, bool groups_only)
{
	HASH_SEQ_STATUS status;
	Bucket	   *b;
	QueueKey	qkey;

	LWLockAcquire(limits_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, buckets);
	while ((b = hash_seq_search(&status)) != NULL)
		if (b->key.dbid == MyDatabaseId && b->key.queue_id == queue_id &&
			(b->key.group_hash != 0 || !groups_only))
			bucket_remove(b);
	if (!groups_only)
	{
		memset(&qkey, 0, sizeof(qkey));
		qkey.dbid = MyDatabaseId;
		qkey.queue_id = queue_id;
		hash_search(queues, &qkey, HASH_REMOVE, NULL);
	}
	LWLockRelease(limits_shared->lock);
}

static void
limits_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

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
			foreach(lc, to_forget)
			{
				ForgetQueue *f = (ForgetQueue *) lfirst(lc);

				forget_queue(f->queue_id, f->groups_only);
			}
			break;
		default:
			return;
	}
	list_free_deep(to_forget);
	to_forget = NIL;
}

static void
limits_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i;
	ListCell   *lc;

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
			return;
	}
	/* a rolled-back savepoint dropped nothing; a released one's drops move up */
	foreach(lc, to_forget)
	{
		ForgetQueue *f = (ForgetQueue *) lfirst(lc);

		if (f->level < level)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			to_forget = foreach_delete_current(to_forget, lc);
			pfree(f);
		}
		else
			f->level = level - 1;
	}
}

/*
 * mq._queue_forget(queue_id int, groups_only bool): drop_queue's last step
 * (and alter_queue's when it clears group_rate_limit).  When the
 * transaction commits, the queue's rate buckets (only its groups' with
 * groups_only) leave shared memory, so that they no longer count against
 * mq.max_rate_groups and the owner's mq.max_rate_groups_per_role.  A drop
 * that rolls back forgets nothing.
 */
Datum
mq_queue_forget(PG_FUNCTION_ARGS)
{
	ForgetQueue *f;

	if (limits_shared == NULL)
		PG_RETURN_VOID();
	register_callbacks();
	f = MemoryContextAlloc(TopMemoryContext, sizeof(ForgetQueue));
	f->queue_id = PG_GETARG_INT32(0);
	f->groups_only = PG_GETARG_BOOL(1);
	f->level = GetCurrentTransactionNestLevel();
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		to_forget = lappend(to_forget, f);
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_VOID();
}

/* the buckets each role's queues hold, for mq.shared_memory_usage() */
int
mq_limits_role_counts(MqRoleCount **out)
{
	return mq_quota_copy(bucket_roles, limits_shared != NULL ? limits_shared->lock : NULL, out);
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
 * Forget the buckets and turn orders of database dbid's queues: its mq
 * extension was just created (queue ids start again at 1) or dropped, or
 * the database was dropped (mq.c).  Their roles get their share back.
 */
void
mq_limits_forget_database(Oid dbid)
{
	HASH_SEQ_STATUS status;
	Bucket	   *b;
	QueueState *qs;

	if (limits_shared == NULL)
		return;
	LWLockAcquire(limits_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, buckets);
	while ((b = hash_seq_search(&status)) != NULL)
		if (b->key.dbid == dbid)
		{
			mq_quota_add(bucket_roles, b->role, -1);
			hash_search(buckets, &b->key, HASH_REMOVE, NULL);
		}
	hash_seq_init(&status, queues);
	while ((qs = hash_seq_search(&status)) != NULL)
		if (qs->key.dbid == dbid)
			hash_search(queues, &qs->key, HASH_REMOVE, NULL);
	LWLockRelease(limits_shared->lock);
}
