/*-------------------------------------------------------------------------
 *
 * wait.c
 *	  Shared-memory waiters: blocked readers sleep on their latch until a
 *	  commit that sent to their queue wakes them; queued NOTIFYs.  See
 *	  src/README.md ("Wakeups").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "compat.h"
#include "guc.h"
#include "wait.h"
#include "worker_slot.h"

typedef struct MqWaiter
{
	Oid			dbid;
	int32		queue_id;
	int			procno;			/* -1: free */
} MqWaiter;

typedef struct MqPendingNotify
{
	Oid			dbid;
	int32		queue_id;		/* 0: free */
} MqPendingNotify;

typedef struct MqShared
{
	LWLock	   *lock;
	pg_atomic_uint32 nwaiters;
	pg_atomic_uint32 nnotify;
	int			nslots;
	MqWaiter	waiters[FLEXIBLE_ARRAY_MEMBER];
	/* followed by nslots MqPendingNotify */
} MqShared;

#define NOTIFIES(s) ((MqPendingNotify *) &(s)->waiters[(s)->nslots])

static MqShared *mq_shared = NULL;

/* this backend's waiter slot, or -1 */
static int	my_slot = -1;

/* queues sent to in this transaction */
typedef struct PendingWake
{
	int32		queue_id;
	bool		notify;
} PendingWake;

static PendingWake *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;
static bool callbacks_registered = false;

static Size
mq_shmem_size(void)
{
	return add_size(offsetof(MqShared, waiters),
					mul_size(mq_max_waiters,
							 sizeof(MqWaiter) + sizeof(MqPendingNotify)));
}

void
mq_wait_shmem_request(void)
{
	RequestAddinShmemSpace(mq_shmem_size());
	RequestNamedLWLockTranche("mq", 1);
}

void
mq_wait_shmem_startup(void)
{
	bool		found;

	mq_shared = ShmemInitStruct("mq", mq_shmem_size(), &found);
	if (!found)
	{
		int			i;

		mq_shared->lock = &(GetNamedLWLockTranche("mq"))->lock;
		pg_atomic_init_u32(&mq_shared->nwaiters, 0);
		pg_atomic_init_u32(&mq_shared->nnotify, 0);
		mq_shared->nslots = mq_max_waiters;
		for (i = 0; i < mq_shared->nslots; i++)
		{
			mq_shared->waiters[i].procno = -1;
			NOTIFIES(mq_shared)[i].queue_id = 0;
		}
	}
}

static void
unregister_waiter(void)
{
	if (my_slot < 0 || mq_shared == NULL)
		return;
	LWLockAcquire(mq_shared->lock, LW_EXCLUSIVE);
	mq_shared->waiters[my_slot].procno = -1;
	pg_atomic_fetch_sub_u32(&mq_shared->nwaiters, 1);
	LWLockRelease(mq_shared->lock);
	my_slot = -1;
}

static void
unregister_waiter_at_exit(int code, Datum arg)
{
	unregister_waiter();
}

/* Take a waiter slot for queue_id; false when the table is full. */
static bool
register_waiter(int32 queue_id)
{
	static bool exit_callback = false;
	int			i;

	if (!exit_callback)
	{
		before_shmem_exit(unregister_waiter_at_exit, (Datum) 0);
		exit_callback = true;
	}
	LWLockAcquire(mq_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < mq_shared->nslots; i++)
	{
		MqWaiter   *w = &mq_shared->waiters[i];

		if (w->procno == -1)
		{
			w->dbid = MyDatabaseId;
			w->queue_id = queue_id;
			w->procno = mq_my_procno();
			pg_atomic_fetch_add_u32(&mq_shared->nwaiters, 1);
			my_slot = i;
			break;
		}
	}
	LWLockRelease(mq_shared->lock);
	return my_slot >= 0;
}

/* Wake the waiters of the queues sent to; queue their NOTIFYs. */
static void
wake_pending(void)
{
	int			i,
				j;
	bool		any_notify = false;

	if (mq_shared == NULL || npending == 0)
		return;

	if (pg_atomic_read_u32(&mq_shared->nwaiters) > 0)
	{
		LWLockAcquire(mq_shared->lock, LW_SHARED);
		for (i = 0; i < mq_shared->nslots; i++)
		{
			MqWaiter   *w = &mq_shared->waiters[i];

			if (w->procno < 0 || w->dbid != MyDatabaseId)
				continue;
			for (j = 0; j < npending; j++)
				if (pending[j].queue_id == w->queue_id)
				{
					SetLatch(&GetPGProcByNumber(w->procno)->procLatch);
					break;
				}
		}
		LWLockRelease(mq_shared->lock);
	}

	for (j = 0; j < npending; j++)
		any_notify |= pending[j].notify;
	if (!any_notify)
		return;
	LWLockAcquire(mq_shared->lock, LW_EXCLUSIVE);
	for (j = 0; j < npending; j++)
	{
		MqPendingNotify *free_slot = NULL;
		bool		present = false;

		if (!pending[j].notify)
			continue;
		for (i = 0; i < mq_shared->nslots; i++)
		{
			MqPendingNotify *n = &NOTIFIES(mq_shared)[i];

			if (n->queue_id == 0)
			{
				if (free_slot == NULL)
					free_slot = n;
			}
			else if (n->dbid == MyDatabaseId && n->queue_id == pending[j].queue_id)
			{
				present = true;
				break;
			}
		}
		/* a full table drops the notification; a reader polls anyway */
		if (!present && free_slot != NULL)
		{
			free_slot->dbid = MyDatabaseId;
			free_slot->queue_id = pending[j].queue_id;
			pg_atomic_fetch_add_u32(&mq_shared->nnotify, 1);
		}
	}
	LWLockRelease(mq_shared->lock);
	/* the database's worker sends them */
	mq_worker_wake(MQ_WORK_NOTIFY);
}

static void
mq_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			wake_pending();
			npending = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			npending = 0;
			break;
		default:
			break;
	}
}

void
mq_wake_at_commit(MqQueue *q)
{
	mq_wake_queue_at_commit(q->id, q->notify);
}

void
mq_wake_queue_at_commit(int32 queue_id, bool notify)
{
	int			i;

	if (mq_shared == NULL)
		return;
	/* a send (or a message made visible) may be due before the worker wakes */
	mq_worker_wake_at_commit();
	if (!callbacks_registered)
	{
		RegisterXactCallback(mq_xact_callback, NULL);
		callbacks_registered = true;
	}
	for (i = 0; i < npending; i++)
		if (pending[i].queue_id == queue_id)
		{
			pending[i].notify |= notify;
			return;
		}
	if (npending == maxpending)
	{
		maxpending = Max(16, maxpending * 2);
		pending = pending == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(PendingWake) * maxpending) :
			repalloc(pending, sizeof(PendingWake) * maxpending);
	}
	pending[npending].queue_id = queue_id;
	pending[npending].notify = notify;
	npending++;
}

void
mq_wait_until(int32 key, TimestampTz deadline, mq_try_fn attempt, void *arg)
{
	static bool noticed = false;
	volatile bool registered = false;
	volatile TransactionId saved_xmin = InvalidTransactionId;
	volatile bool xmin_cleared = false;

	if (mq_shared != NULL)
		registered = register_waiter(key);
	else if (!noticed)
	{
		ereport(NOTICE,
				(errmsg("mq is not in shared_preload_libraries, so a waiting read polls every %d ms",
						mq_poll_interval),
				 errhint("Add mq to shared_preload_libraries in postgresql.conf and restart to wake readers at commit.")));
		noticed = true;
	}

	PG_TRY();
	{
		TimestampTz not_before = 0;

		for (;;)
		{
			TimestampTz now;
			TimestampTz wake_at;
			long		secs;
			int			usecs;
			long		timeout;

			ResetLatch(MyLatch);
			now = GetCurrentTimestamp();
			if (now >= not_before)
			{
				not_before = 0;
				if (attempt(arg, &not_before))
					break;
				now = GetCurrentTimestamp();
			}
			if (now >= deadline)
				break;

			/*
			 * Held back by a rate limit: sleep until a token comes, however
			 * many commits wake us (the loop goes back to sleep).  Else look
			 * again at least every mq.poll_interval.
			 */
			wake_at = not_before > now ? Min(not_before, deadline) : deadline;
			TimestampDifference(now, wake_at, &secs, &usecs);
			timeout = secs * 1000 + (usecs + 999) / 1000;
			if (not_before <= now)
				timeout = Min(timeout, mq_poll_interval);

			/* sleep without holding back anybody's horizon */
			saved_xmin = MyProc->xmin;
			MyProc->xmin = InvalidTransactionId;
			xmin_cleared = true;
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout, PG_WAIT_EXTENSION);
			MyProc->xmin = saved_xmin;
			xmin_cleared = false;
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		if (xmin_cleared)
			MyProc->xmin = saved_xmin;
		if (registered)
			unregister_waiter();
	}
	PG_END_TRY();
}

/* mq_wait_for_messages's attempt, in mq_wait_until's shape */
typedef struct QueueAttempt
{
	MqQueue    *q;
	mq_attempt_fn attempt;
	void	   *arg;
} QueueAttempt;

static bool
queue_attempt(void *arg, TimestampTz *not_before)
{
	QueueAttempt *qa = (QueueAttempt *) arg;

	return qa->attempt(qa->q, qa->arg, not_before);
}

void
mq_wait_for_messages(MqQueue *q, TimestampTz deadline, mq_attempt_fn attempt,
					 void *arg)
{
	QueueAttempt qa;

	qa.q = q;
	qa.attempt = attempt;
	qa.arg = arg;
	mq_wait_until(q->id, deadline, queue_attempt, &qa);
}

/*
 * Wake the waiters of key in this database now (not at commit): for a
 * caller whose commit has just become visible.
 */
void
mq_wake_key_now(int32 key)
{
	int			i;

	if (mq_shared == NULL || pg_atomic_read_u32(&mq_shared->nwaiters) == 0)
		return;
	LWLockAcquire(mq_shared->lock, LW_SHARED);
	for (i = 0; i < mq_shared->nslots; i++)
	{
		MqWaiter   *w = &mq_shared->waiters[i];

		if (w->procno >= 0 && w->dbid == MyDatabaseId && w->queue_id == key)
			SetLatch(&GetPGProcByNumber(w->procno)->procLatch);
	}
	LWLockRelease(mq_shared->lock);
}

List *
mq_take_pending_notifies(Oid dbid)
{
	List	   *ids = NIL;
	int			i;

	if (mq_shared == NULL || pg_atomic_read_u32(&mq_shared->nnotify) == 0)
		return NIL;
	LWLockAcquire(mq_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < mq_shared->nslots; i++)
	{
		MqPendingNotify *n = &NOTIFIES(mq_shared)[i];

		if (n->queue_id != 0 && n->dbid == dbid)
		{
			ids = lappend_int(ids, n->queue_id);
			n->queue_id = 0;
			pg_atomic_fetch_sub_u32(&mq_shared->nnotify, 1);
		}
	}
	LWLockRelease(mq_shared->lock);
	return ids;
}
