/*-------------------------------------------------------------------------
 *
 * worker_slot.c
 *	  The workers' slots in shared memory: which database each mq worker
 *	  serves, its latch, what it last did and when it wakes next; and the
 *	  wakeups that commits give it.  See worker.c for the worker's loop and
 *	  src/README.md ("Timed work and workers").
 *
 * A worker sleeps until its next deadline (worker.c reckons it), so a
 * commit that gives it work must wake it: one that queued a NOTIFY (wait.c)
 * or moved a stream's readable end (stream_position.c) calls
 * mq_worker_wake() with what it needs, and one that wrote while it used a
 * queue or a stream (its cache look-up, a management function, a send
 * noted for the waiters) has mq_worker_wake_at_commit() called, so that its
 * commit wakes the worker for a round of maintenance: the write may have
 * made a deadline earlier than the one the worker sleeps until (a send to
 * a queue with a TTL, a lease on a queue with max_receives, an alter).
 *
 * A wakeup is a bit in the slot's "wanted" word and the worker's latch.
 * The worker takes the word (an atomic exchange with 0) before it looks at
 * its work, and a commit sets the bits only after it is visible, so no
 * wakeup is lost; a commit that finds its bits already set does nothing
 * more (one atomic read), so a busy database costs its committers one
 * latch per round of the worker at most.  The worker's own commits wake
 * nobody: it looks at what they queued itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "worker_slot.h"

PG_FUNCTION_INFO_V1(mq_workers);

typedef struct WorkerSlot
{
	pid_t		pid;			/* 0: free */
	Oid			dboid;
	int			procno;
	pg_atomic_uint32 wanted;	/* MQ_WORK_* bits set by commits */
	/* what mq.workers shows, under the mutex */
	bool		sleeping;
	char		last_work[48];
	TimestampTz last_work_at;
	TimestampTz next_wake;		/* DT_NOEND: only a commit wakes it */
} WorkerSlot;

typedef struct WorkerSlots
{
	slock_t		mutex;
	int			n;
	WorkerSlot	slot[FLEXIBLE_ARRAY_MEMBER];
} WorkerSlots;

static WorkerSlots *worker_slots = NULL;

/* this worker's slot, or -1 */
static int	my_slot = -1;

/* where this database's worker was last found (a hint, checked) */
static int	db_slot_hint = -1;

/* this transaction used a queue or stream: does its commit wake the worker? */
static bool wake_at_commit = false;
static bool wrote = false;
static bool callback_registered = false;

static Size
worker_slots_size(void)
{
	return add_size(offsetof(WorkerSlots, slot),
					mul_size(max_worker_processes, sizeof(WorkerSlot)));
}

void
mq_worker_slots_shmem_request(void)
{
	RequestAddinShmemSpace(worker_slots_size());
}

void
mq_worker_slots_shmem_startup(void)
{
	bool		found;
	int			i;

	worker_slots = ShmemInitStruct("mq workers", worker_slots_size(), &found);
	if (!found)
	{
		SpinLockInit(&worker_slots->mutex);
		worker_slots->n = max_worker_processes;
		memset(worker_slots->slot, 0, sizeof(WorkerSlot) * worker_slots->n);
		for (i = 0; i < worker_slots->n; i++)
			pg_atomic_init_u32(&worker_slots->slot[i].wanted, 0);
	}
}

bool
mq_worker_slots_available(void)
{
	return worker_slots != NULL;
}

/* on_shmem_exit: the worker's slot is free again */
static void
release_worker_slot(int code, Datum arg)
{
	WorkerSlot *slot = &worker_slots->slot[DatumGetInt32(arg)];

	SpinLockAcquire(&worker_slots->mutex);
	slot->pid = 0;
	slot->dboid = InvalidOid;
	SpinLockRelease(&worker_slots->mutex);
	my_slot = -1;
}

void
mq_worker_slot_claim(Oid dboid)
{
	int			i;

	SpinLockAcquire(&worker_slots->mutex);
	for (i = 0; i < worker_slots->n; i++)
	{
		WorkerSlot *slot = &worker_slots->slot[i];

		if (slot->pid == 0)
		{
			slot->pid = MyProcPid;
			slot->dboid = dboid;
			slot->procno = mq_my_procno();
			slot->sleeping = false;
			slot->last_work[0] = '\0';
			slot->last_work_at = 0;
			slot->next_wake = 0;
			/* a new worker looks at everything anyway */
			pg_atomic_write_u32(&slot->wanted, 0);
			break;
		}
	}
	SpinLockRelease(&worker_slots->mutex);
	/* every worker is a background worker: there is a slot for each */
	if (i == worker_slots->n)
		elog(ERROR, "no free mq worker slot");
	my_slot = i;
	on_shmem_exit(release_worker_slot, Int32GetDatum(i));
}

int
mq_worker_slot_pids(Oid dboid, pid_t *pids, int max)
{
	int			n = 0;
	int			i;

	SpinLockAcquire(&worker_slots->mutex);
	for (i = 0; i < worker_slots->n && n < max; i++)
		if (worker_slots->slot[i].pid != 0 && worker_slots->slot[i].dboid == dboid)
			pids[n++] = worker_slots->slot[i].pid;
	SpinLockRelease(&worker_slots->mutex);
	return n;
}

uint32
mq_worker_take_wanted(void)
{
	Assert(my_slot >= 0);
	return pg_atomic_exchange_u32(&worker_slots->slot[my_slot].wanted, 0);
}

/* the same without taking them (a look before sleeping) */
uint32
mq_worker_peek_wanted(void)
{
	Assert(my_slot >= 0);
	return pg_atomic_read_u32(&worker_slots->slot[my_slot].wanted);
}

void
mq_worker_report_work(const char *work)
{
	WorkerSlot *slot = &worker_slots->slot[my_slot];
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&worker_slots->mutex);
	slot->sleeping = false;
	strlcpy(slot->last_work, work, sizeof(slot->last_work));
	slot->last_work_at = now;
	SpinLockRelease(&worker_slots->mutex);
}

void
mq_worker_report_sleep(TimestampTz wake_at)
{
	WorkerSlot *slot = &worker_slots->slot[my_slot];

	SpinLockAcquire(&worker_slots->mutex);
	slot->sleeping = true;
	slot->next_wake = wake_at;
	SpinLockRelease(&worker_slots->mutex);
}

/*
 * The slot of this database's worker, or NULL.  Read without the lock: a
 * slot that changes hands meanwhile costs a needless wakeup at most.
 */
static WorkerSlot *
database_slot(void)
{
	int			i;

	if (db_slot_hint >= 0)
	{
		WorkerSlot *slot = &worker_slots->slot[db_slot_hint];

		if (slot->pid != 0 && slot->dboid == MyDatabaseId)
			return slot;
	}
	for (i = 0; i < worker_slots->n; i++)
	{
		WorkerSlot *slot = &worker_slots->slot[i];

		if (slot->pid != 0 && slot->dboid == MyDatabaseId)
		{
			db_slot_hint = i;
			return slot;
		}
	}
	return NULL;
}

void
mq_worker_wake(uint32 why)
{
	WorkerSlot *slot;

	if (worker_slots == NULL || my_slot >= 0)
		return;
	slot = database_slot();
	if (slot == NULL)
		return;
	/* what the caller did is visible before the worker can see its bits */
	pg_memory_barrier();
	if ((pg_atomic_read_u32(&slot->wanted) & why) == why)
		return;
	(void) pg_atomic_fetch_or_u32(&slot->wanted, why);
	SetLatch(&GetPGProcByNumber(slot->procno)->procLatch);
}

static void
wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			/* only a transaction that wrote can have moved a deadline */
			wrote = wake_at_commit &&
				TransactionIdIsValid(GetTopTransactionIdIfAny());
			break;
		case XACT_EVENT_COMMIT:
			if (wrote)
				mq_worker_wake(MQ_WORK_ACTIVITY);
			wake_at_commit = wrote = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = wrote = false;
			break;
		default:
			break;
	}
}

void
mq_worker_wake_at_commit(void)
{
	if (worker_slots == NULL || wake_at_commit || my_slot >= 0)
		return;
	if (!callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		callback_registered = true;
	}
	wake_at_commit = true;
}

/*
 * mq.worker_status(): every running worker (the view mq.workers names the
 * databases).  Empty without preloading.
 */
Datum
mq_workers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (worker_slots == NULL)
		return (Datum) 0;
	for (i = 0; i < worker_slots->n; i++)
	{
		WorkerSlot *slot = &worker_slots->slot[i];
		pid_t		pid;
		Oid			dboid;
		bool		sleeping;
		char		last_work[sizeof(slot->last_work)];
		TimestampTz last_work_at;
		TimestampTz next_wake;
		Datum		values[6];
		bool		nulls[6] = {0};

		SpinLockAcquire(&worker_slots->mutex);
		pid = slot->pid;
		dboid = slot->dboid;
		sleeping = slot->sleeping;
		memcpy(last_work, slot->last_work, sizeof(last_work));
		last_work_at = slot->last_work_at;
		next_wake = slot->next_wake;
		SpinLockRelease(&worker_slots->mutex);
		if (pid == 0)
			continue;
		values[0] = Int32GetDatum(pid);
		values[1] = ObjectIdGetDatum(dboid);
		values[2] = CStringGetTextDatum(sleeping ? "sleeping" : "working");
		values[3] = CStringGetTextDatum(last_work);
		nulls[3] = last_work[0] == '\0';
		values[4] = TimestampTzGetDatum(last_work_at);
		nulls[4] = last_work_at == 0;
		values[5] = TimestampTzGetDatum(next_wake);
		nulls[5] = !sleeping || next_wake == DT_NOEND;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
