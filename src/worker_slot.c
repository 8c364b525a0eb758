/*-------------------------------------------------------------------------
 *
 * worker_slot.c
 *	  The databases the workers serve, in shared memory: for each database,
 *	  whether it has the extension, its worker if it has one (its latch,
 *	  what it last did, when it wakes next), when it next needs one, and
 *	  the wakeups that commits give it; and the launcher's share of a
 *	  bounded pool of workers among them.  See worker.c for the worker's
 *	  loop, worker_launcher.c for the launcher, and src/README.md ("Timed
 *	  work and workers").
 *
 * The pool.  At most mq.max_workers workers run at once, whatever the
 * number of databases.  A database gets one when something is due there
 * (the deadline its last worker left, see below), when a commit wants one
 * (a wakeup bit, below), or when nobody has looked at it yet; the launcher
 * starts workers for the databases that have waited longest
 * (mq_pool_plan()).  A worker gives its slot back when its database is
 * idle (no wakeup for mq.worker_idle_timeout and nothing due within it),
 * leaving when it must come back (next_due); or when the launcher asks it
 * to because other databases wait and it has had its turn
 * (MQ_WORKER_TURN_MS): it leaves after the round it is in, and its
 * database waits in line behind the others if it still has work.  So
 * every database gets its timed work, in turn, and an idle one costs
 * nothing: no process, no wakeup.
 *
 * Wakeups.  A commit that gives its database's worker work (a NOTIFY queued
 * in wait.c, a stream's readable end moved in stream_position.c: see
 * mq_worker_wake(); or a write while it used a queue or a stream, which may
 * have made a deadline earlier, see mq_worker_wake_at_commit()) sets a bit
 * in the database's "wanted" word and the latch of its worker, or of the
 * launcher when it has none.  The worker takes the word (an atomic exchange
 * with 0) before it looks at its work, and a commit sets the bits only
 * after it is visible, so no wakeup is lost; bits that come after a
 * worker's last look stay in the word, and the launcher, which the
 * postmaster wakes when a worker stops, gives the database a new worker
 * for them.  A commit that finds its bits already set does nothing more
 * (one atomic read), so a busy database costs its committers one latch
 * per look of the worker at most.  The worker's own commits wake nobody:
 * it looks at what they queued itself.
 *
 * The table holds MQ_MAX_DATABASES databases; the launcher adds those that
 * accept connections (mq_databases_sync()) and removes the dropped ones.
 * Databases past that many get no worker (the launcher says so).
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

/* does the database have the extension? */
#define MQ_DB_UNKNOWN	0		/* no worker has looked yet */
#define MQ_DB_PRESENT	1
#define MQ_DB_ABSENT	2

typedef struct DatabaseSlot
{
	Oid			dboid;			/* InvalidOid: a free entry */
	uint8		state;			/* MQ_DB_* */
	bool		assigned;		/* a worker started for it has not stopped */
	bool		yield;			/* the launcher asks its worker to leave */
	bool		left;			/* its last worker left on its own */
	bool		orphan;			/* its worker was started by a launcher since gone */
	uint32		generation;		/* of the worker last started for it */
	pid_t		pid;			/* its worker, once connected; 0: none */
	int			procno;			/* its worker's, or -1 */
	pg_atomic_uint32 wanted;	/* MQ_WORK_* bits set by commits */
	TimestampTz started_at;		/* when the launcher started its worker */
	TimestampTz stopped_at;		/* its worker stopped without leaving */
	TimestampTz waiting_since;	/* it has wanted a worker since; 0: not */
	TimestampTz next_due;		/* it needs a worker then (DT_NOEND: never) */
	TimestampTz activity_at;	/* its last worker last saw activity then */
	/* what mq.workers shows */
	bool		sleeping;
	char		last_work[48];
	TimestampTz last_work_at;
	TimestampTz next_wake;		/* DT_NOEND: only a commit wakes it */
} DatabaseSlot;

typedef struct DatabaseSlots
{
	slock_t		mutex;
	int			launcher_procno;	/* -1: no launcher */
	pg_atomic_uint32 rescan;	/* the launcher should list the databases */
	int			n;				/* entries in use or used: the high mark */
	int			waiting;		/* databases that wait for a worker */
	bool		full;			/* databases are left out: no rescans asked */
	DatabaseSlot slot[MQ_MAX_DATABASES];
} DatabaseSlots;

static DatabaseSlots *dbs = NULL;

/* the latches of workers asked to make way, set once the lock is let go */
#define MQ_MAX_YIELDS 64

/* this worker's entry, or -1 */
static int	my_slot = -1;

/* where this database's entry was last found (a hint, checked) */
static int	db_slot_hint = -1;

/* this backend asked the launcher to look for its database once */
static bool asked_rescan = false;

/* this transaction used a queue or stream: does its commit wake the worker? */
static bool wake_at_commit = false;
static bool wake_always = false;
static bool rescan_at_commit = false;
static bool wrote = false;
static bool callback_registered = false;

void
mq_worker_slots_shmem_request(void)
{
	RequestAddinShmemSpace(sizeof(DatabaseSlots));
}

void
mq_worker_slots_shmem_startup(void)
{
	bool		found;
	int			i;

	dbs = ShmemInitStruct("mq databases", sizeof(DatabaseSlots), &found);
	if (!found)
	{
		memset(dbs, 0, sizeof(DatabaseSlots));
		SpinLockInit(&dbs->mutex);
		dbs->launcher_procno = -1;
		pg_atomic_init_u32(&dbs->rescan, 0);
		for (i = 0; i < MQ_MAX_DATABASES; i++)
		{
			dbs->slot[i].procno = -1;
			pg_atomic_init_u32(&dbs->slot[i].wanted, 0);
		}
	}
}

bool
mq_worker_slots_available(void)
{
	return dbs != NULL;
}

/* the entry of dboid, or -1; under the mutex or with a checked result */
static int
find_slot(Oid dboid)
{
	int			i;

	for (i = 0; i < dbs->n; i++)
		if (dbs->slot[i].dboid == dboid)
			return i;
	return -1;
}

static void
wake_procno(int procno)
{
	if (procno >= 0)
		SetLatch(&GetPGProcByNumber(procno)->procLatch);
}

/* ---- the launcher ---- */

static void
release_launcher(int code, Datum arg)
{
	dbs->launcher_procno = -1;
}

/*
 * A launcher starts (a new one, if the last one died: the workers it
 * started may still run, and it has no handles for them; they give their
 * database back themselves when they stop).
 */
void
mq_launcher_claim(void)
{
	int			i;

	SpinLockAcquire(&dbs->mutex);
	for (i = 0; i < dbs->n; i++)
	{
		DatabaseSlot *slot = &dbs->slot[i];

		if (slot->pid != 0)
			slot->orphan = slot->assigned;
		else if (slot->assigned)
		{
			/* a worker started but not come yet will find itself stale */
			slot->assigned = slot->yield = false;
			slot->generation++;
		}
	}
	dbs->launcher_procno = mq_my_procno();
	SpinLockRelease(&dbs->mutex);
	on_shmem_exit(release_launcher, (Datum) 0);
}

bool
mq_databases_rescan_wanted(void)
{
	return pg_atomic_exchange_u32(&dbs->rescan, 0) != 0;
}

/*
 * The databases that accept connections are dboids (n of them, which this
 * sorts): forget the entries of the others (once their worker is gone),
 * take in the new ones.  Returns how many found no free entry.  Only the
 * launcher adds or removes entries, so what it reads of them stays true
 * between its two holds of the lock; it compares outside them.
 */
int
mq_databases_sync(Oid *dboids, int n)
{
	Oid		   *have;
	int			nhave;
	int			missing = 0;
	int			next_free = 0;
	int			i,
				j;

	qsort(dboids, n, sizeof(Oid), oid_cmp);
	have = palloc(sizeof(Oid) * MQ_MAX_DATABASES);
	SpinLockAcquire(&dbs->mutex);
	nhave = dbs->n;
	for (i = 0; i < nhave; i++)
		have[i] = dbs->slot[i].dboid;
	SpinLockRelease(&dbs->mutex);

	/* entries of databases that are gone: InvalidOid in have[] */
	for (i = 0; i < nhave; i++)
		if (OidIsValid(have[i]) &&
			bsearch(&have[i], dboids, n, sizeof(Oid), oid_cmp) == NULL)
			have[i] = InvalidOid;

	SpinLockAcquire(&dbs->mutex);
	for (i = 0; i < nhave; i++)
	{
		DatabaseSlot *slot = &dbs->slot[i];

		if (OidIsValid(slot->dboid) && !OidIsValid(have[i]) && !slot->assigned)
			slot->dboid = InvalidOid;
	}
	SpinLockRelease(&dbs->mutex);

	/* the new ones */
	{
		Oid		   *known = palloc(sizeof(Oid) * (nhave + 1));
		int			nknown = 0;

		SpinLockAcquire(&dbs->mutex);
		for (i = 0; i < dbs->n; i++)
			if (OidIsValid(dbs->slot[i].dboid))
				known[nknown++] = dbs->slot[i].dboid;
		SpinLockRelease(&dbs->mutex);
		qsort(known, nknown, sizeof(Oid), oid_cmp);

		for (j = 0; j < n; j++)
		{
			if (bsearch(&dboids[j], known, nknown, sizeof(Oid), oid_cmp) != NULL)
				continue;
			SpinLockAcquire(&dbs->mutex);
			while (next_free < dbs->n && OidIsValid(dbs->slot[next_free].dboid))
				next_free++;
			if (next_free == dbs->n && dbs->n < MQ_MAX_DATABASES)
				dbs->n++;
			if (next_free < dbs->n)
			{
				DatabaseSlot *slot = &dbs->slot[next_free];

				slot->dboid = dboids[j];
				slot->state = MQ_DB_UNKNOWN;
				slot->assigned = slot->yield = slot->left = slot->orphan = false;
				slot->pid = 0;
				slot->procno = -1;
				slot->started_at = slot->stopped_at = slot->waiting_since = 0;
				slot->next_due = 0;
				slot->activity_at = 0;
				slot->sleeping = false;
				slot->last_work[0] = '\0';
				slot->last_work_at = 0;
				slot->next_wake = 0;
				pg_atomic_write_u32(&slot->wanted, 0);
			}
			else
				missing++;
			SpinLockRelease(&dbs->mutex);
		}
		pfree(known);
	}
	dbs->full = missing > 0;
	pfree(have);
	return missing;
}

/*
 * Ask up to n workers to make way, those that have served longest first,
 * once they have had their turn (else *wake is when the first has); under
 * the lock.  Their latches are for the caller to set, in asked[]: returns
 * how many.
 */
static int
ask_to_make_way(TimestampTz now, int n, int *asked, TimestampTz *wake)
{
	int			nasked = 0;
	int			i;

	while (n-- > 0)
	{
		DatabaseSlot *oldest = NULL;

		for (i = 0; i < dbs->n; i++)
		{
			DatabaseSlot *slot = &dbs->slot[i];

			if (OidIsValid(slot->dboid) && slot->assigned && !slot->yield &&
				(oldest == NULL || slot->started_at < oldest->started_at))
				oldest = slot;
		}
		if (oldest == NULL)
			break;
		if (now < TimestampTzPlusMilliseconds(oldest->started_at, MQ_WORKER_TURN_MS))
		{
			*wake = Min(*wake, TimestampTzPlusMilliseconds(oldest->started_at,
														   MQ_WORKER_TURN_MS));
			break;
		}
		/* (one not connected yet sees it when it first could leave) */
		oldest->yield = true;
		if (oldest->procno >= 0 && nasked < MQ_MAX_YIELDS)
			asked[nasked++] = oldest->procno;
	}
	return nasked;
}

/*
 * The launcher's turn: which databases get a worker now (at most
 * max_workers in all, those waiting longest first; they are marked
 * assigned and put into start[], *nstart of them), which workers are asked
 * to give their slot back for the databases still waiting, and when to
 * look again (*wake; DT_NOEND: when something wakes the launcher).
 * Returns how many databases still wait.
 */
int
mq_pool_plan(TimestampTz now, int max_workers, Oid *start,
			 uint32 *generations, int *nstart, TimestampTz *wake)
{
	int			asked[MQ_MAX_YIELDS];
	int			nasked = 0;
	int			running = 0;
	int			wanting = 0;
	int			yielding = 0;
	int			waiting;
	int			i;

	*nstart = 0;
	*wake = DT_NOEND;
	SpinLockAcquire(&dbs->mutex);
	for (i = 0; i < dbs->n; i++)
	{
		DatabaseSlot *slot = &dbs->slot[i];
		uint32		bits;
		bool		wants;

		if (!OidIsValid(slot->dboid))
			continue;
		if (slot->assigned)
		{
			running++;
			if (slot->yield)
				yielding++;
			continue;
		}
		bits = pg_atomic_read_u32(&slot->wanted);
		if (slot->state == MQ_DB_ABSENT && bits == 0)
			wants = false;		/* until CREATE EXTENSION wakes it */
		else if (slot->stopped_at != 0 &&
				 now < TimestampTzPlusMilliseconds(slot->stopped_at,
												   MQ_RESTART_SECONDS * 1000))
		{
			/* it stopped with an error or was asked to leave: not at once */
			wants = false;
			*wake = Min(*wake, TimestampTzPlusMilliseconds(slot->stopped_at,
														   MQ_RESTART_SECONDS * 1000));
		}
		else if (slot->state == MQ_DB_UNKNOWN || bits != 0 || slot->next_due <= now)
			wants = true;
		else
		{
			wants = false;
			*wake = Min(*wake, slot->next_due);
		}
		if (wants)
		{
			wanting++;
			if (slot->waiting_since == 0)
				slot->waiting_since = now;
		}
		else
			slot->waiting_since = 0;
	}

	/* free slots to those waiting longest */
	while (running < max_workers && *nstart < wanting)
	{
		DatabaseSlot *first = NULL;

		for (i = 0; i < dbs->n; i++)
		{
			DatabaseSlot *slot = &dbs->slot[i];

			if (OidIsValid(slot->dboid) && !slot->assigned &&
				slot->waiting_since != 0 &&
				(first == NULL || slot->waiting_since < first->waiting_since))
				first = slot;
		}
		if (first == NULL)
			break;
		first->assigned = true;
		first->yield = first->left = false;
		first->stopped_at = 0;
		first->started_at = now;
		first->sleeping = false;
		first->generation++;
		generations[*nstart] = first->generation;
		start[(*nstart)++] = first->dboid;
		running++;
	}
	waiting = wanting - *nstart;
	dbs->waiting = waiting;

	/* databases still wait: ask as many workers to make way */
	nasked = ask_to_make_way(now, waiting - yielding, asked, wake);
	SpinLockRelease(&dbs->mutex);
	while (nasked > 0)
		wake_procno(asked[--nasked]);
	return waiting;
}

/*
 * The worker the launcher started for dboid has stopped (or could not be
 * started: started = false).  One that did not leave on its own (an
 * error, a kill, DROP DATABASE asking it to go) is replaced only after
 * MQ_RESTART_SECONDS.
 */
bool
mq_database_worker_stopped(Oid dboid, TimestampTz now, bool started)
{
	int			i;
	bool		unexpected = false;

	SpinLockAcquire(&dbs->mutex);
	i = find_slot(dboid);
	if (i >= 0)
	{
		DatabaseSlot *slot = &dbs->slot[i];

		slot->assigned = false;
		slot->yield = false;
		slot->pid = 0;
		slot->procno = -1;
		slot->sleeping = false;
		if (started && !slot->left)
		{
			/* what it was doing may not be done: a new one looks again */
			slot->stopped_at = now;
			slot->next_due = now;
			unexpected = true;
		}
		slot->left = false;
	}
	SpinLockRelease(&dbs->mutex);
	return unexpected;
}

/* ---- the worker ---- */

/* on_shmem_exit: the worker is gone */
static void
release_worker_slot(int code, Datum arg)
{
	DatabaseSlot *slot = &dbs->slot[DatumGetInt32(arg)];

	bool		orphan;

	SpinLockAcquire(&dbs->mutex);
	slot->pid = 0;
	slot->procno = -1;
	slot->sleeping = false;
	orphan = slot->orphan;
	if (orphan)
	{
		/* no launcher has its handle: the database is free again */
		slot->assigned = slot->yield = slot->orphan = false;
		if (!slot->left)
			slot->next_due = 0;
	}
	SpinLockRelease(&dbs->mutex);
	my_slot = -1;
	/* the postmaster tells the launcher, which looks at the bits left */
	if (orphan)
		wake_procno(dbs->launcher_procno);
}

TimestampTz
mq_worker_slot_claim(Oid dboid, uint32 generation)
{
	int			i;
	TimestampTz activity_at = 0;

	SpinLockAcquire(&dbs->mutex);
	i = find_slot(dboid);
	/* a worker a dead launcher started, which a new one has replaced */
	if (i >= 0 && (dbs->slot[i].generation != generation ||
				   dbs->slot[i].pid != 0))
		i = -1;
	if (i >= 0)
	{
		DatabaseSlot *slot = &dbs->slot[i];

		slot->procno = mq_my_procno();
		slot->pid = MyProcPid;
		activity_at = slot->activity_at;
		slot->waiting_since = 0;
		slot->sleeping = false;
		slot->next_wake = 0;
	}
	SpinLockRelease(&dbs->mutex);
	/* the launcher forgot the database (it was dropped), or this worker */
	if (i < 0)
		proc_exit(0);
	my_slot = i;
	on_shmem_exit(release_worker_slot, Int32GetDatum(i));
	return activity_at;
}

void
mq_worker_leave(TimestampTz next_due, bool absent, TimestampTz activity_at)
{
	DatabaseSlot *slot = &dbs->slot[my_slot];

	SpinLockAcquire(&dbs->mutex);
	slot->activity_at = activity_at;
	slot->state = absent ? MQ_DB_ABSENT : MQ_DB_PRESENT;
	slot->next_due = absent ? DT_NOEND : next_due;
	slot->left = true;
	SpinLockRelease(&dbs->mutex);
}

/*
 * Do databases wait for a worker?  Then a worker leaves as soon as its
 * database has nothing more for it (see worker.c).
 */
bool
mq_pool_contended(void)
{
	return dbs->waiting > 0;
}

/* the extension is there (so a worker that dies is replaced) */
void
mq_worker_slot_present(void)
{
	SpinLockAcquire(&dbs->mutex);
	dbs->slot[my_slot].state = MQ_DB_PRESENT;
	SpinLockRelease(&dbs->mutex);
}

bool
mq_worker_yield_asked(void)
{
	bool		yield;

	SpinLockAcquire(&dbs->mutex);
	yield = dbs->slot[my_slot].yield;
	SpinLockRelease(&dbs->mutex);
	return yield;
}

int
mq_worker_slot_pids(Oid dboid, pid_t *pids, int max)
{
	int			n = 0;
	int			i;

	SpinLockAcquire(&dbs->mutex);
	for (i = 0; i < dbs->n && n < max; i++)
		if (dbs->slot[i].pid != 0 && dbs->slot[i].dboid == dboid)
			pids[n++] = dbs->slot[i].pid;
	SpinLockRelease(&dbs->mutex);
	return n;
}

uint32
mq_worker_take_wanted(void)
{
	Assert(my_slot >= 0);
	return pg_atomic_exchange_u32(&dbs->slot[my_slot].wanted, 0);
}

/* the same without taking them (a look before sleeping) */
uint32
mq_worker_peek_wanted(void)
{
	Assert(my_slot >= 0);
	return pg_atomic_read_u32(&dbs->slot[my_slot].wanted);
}

void
mq_worker_report_work(const char *work)
{
	DatabaseSlot *slot = &dbs->slot[my_slot];
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&dbs->mutex);
	slot->sleeping = false;
	strlcpy(slot->last_work, work, sizeof(slot->last_work));
	slot->last_work_at = now;
	SpinLockRelease(&dbs->mutex);
}

void
mq_worker_report_sleep(TimestampTz wake_at)
{
	DatabaseSlot *slot = &dbs->slot[my_slot];

	SpinLockAcquire(&dbs->mutex);
	slot->sleeping = true;
	slot->next_wake = wake_at;
	SpinLockRelease(&dbs->mutex);
}

/* ---- committers ---- */

/* ask the launcher to list the databases again */
static void
ask_rescan(void)
{
	pg_atomic_write_u32(&dbs->rescan, 1);
	wake_procno(dbs->launcher_procno);
}

/*
 * The entry of this database, or NULL.  Read without the lock: an entry
 * that changes hands meanwhile costs a needless wakeup at most.
 */
static DatabaseSlot *
database_slot(void)
{
	int			i;

	if (db_slot_hint >= 0 && dbs->slot[db_slot_hint].dboid == MyDatabaseId)
		return &dbs->slot[db_slot_hint];
	i = find_slot(MyDatabaseId);
	if (i < 0)
		return NULL;
	db_slot_hint = i;
	return &dbs->slot[i];
}

static void
wake(uint32 why, bool only_present)
{
	DatabaseSlot *slot;
	int			procno;

	if (dbs == NULL || my_slot >= 0)
		return;
	slot = database_slot();
	if (slot == NULL)
	{
		/* a database the launcher has not listed yet (once a backend) */
		if (!asked_rescan && !dbs->full)
			ask_rescan();
		asked_rescan = true;
		return;
	}
	if (only_present && slot->state != MQ_DB_PRESENT)
		return;
	/* what the caller did is visible before the worker can see its bits */
	pg_memory_barrier();
	if ((pg_atomic_read_u32(&slot->wanted) & why) == why)
		return;
	(void) pg_atomic_fetch_or_u32(&slot->wanted, why);
	procno = slot->procno;
	wake_procno(procno >= 0 ? procno : dbs->launcher_procno);
}

void
mq_worker_wake(uint32 why)
{
	wake(why, false);
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
				wake(MQ_WORK_ACTIVITY, false);
			else if (wake_always)
				wake(MQ_WORK_ACTIVITY, true);
			if (rescan_at_commit)
				ask_rescan();
			wake_at_commit = wake_always = rescan_at_commit = wrote = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = wake_always = rescan_at_commit = wrote = false;
			break;
		default:
			break;
	}
}

static void
register_callback(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		callback_registered = true;
	}
}

void
mq_worker_wake_at_commit(void)
{
	if (dbs == NULL || wake_at_commit || my_slot >= 0)
		return;
	register_callback();
	wake_at_commit = true;
}

void
mq_worker_wake_at_commit_always(void)
{
	if (dbs == NULL || my_slot >= 0)
		return;
	register_callback();
	wake_always = true;
}

void
mq_launcher_rescan_at_commit(void)
{
	if (dbs == NULL)
		return;
	register_callback();
	rescan_at_commit = true;
}

/*
 * mq.worker_status(): every database with the extension, or with a worker
 * (the view mq.workers names them).  Empty without preloading.
 */
Datum
mq_workers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	int			i;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (dbs == NULL)
		return (Datum) 0;
	n = dbs->n;
	for (i = 0; i < n; i++)
	{
		DatabaseSlot copy;
		const char *state;
		Datum		values[7];
		bool		nulls[7] = {0};

		SpinLockAcquire(&dbs->mutex);
		memcpy(&copy, &dbs->slot[i], sizeof(copy));
		SpinLockRelease(&dbs->mutex);
		if (!OidIsValid(copy.dboid))
			continue;
		if (copy.pid != 0)
			state = copy.sleeping ? "sleeping" : "working";
		else if (copy.assigned)
			state = "starting";
		else if (copy.state != MQ_DB_PRESENT)
			continue;			/* no extension there, or not known yet */
		else if (copy.waiting_since != 0 ||
				 pg_atomic_read_u32(&dbs->slot[i].wanted) != 0 ||
				 copy.next_due <= now)
			state = "waiting";
		else
			state = "idle";
		values[0] = Int32GetDatum(copy.pid);
		nulls[0] = copy.pid == 0;
		values[1] = ObjectIdGetDatum(copy.dboid);
		values[2] = CStringGetTextDatum(state);
		values[3] = CStringGetTextDatum(copy.last_work);
		nulls[3] = copy.last_work[0] == '\0';
		values[4] = TimestampTzGetDatum(copy.last_work_at);
		nulls[4] = copy.last_work_at == 0;
		/* when it wakes next, or when its database next needs a worker */
		if (copy.pid != 0)
		{
			values[5] = TimestampTzGetDatum(copy.next_wake);
			nulls[5] = !copy.sleeping || copy.next_wake == DT_NOEND;
		}
		else
		{
			values[5] = TimestampTzGetDatum(copy.next_due);
			nulls[5] = copy.assigned || copy.next_due == DT_NOEND;
		}
		values[6] = TimestampTzGetDatum(copy.waiting_since);
		nulls[6] = copy.waiting_since == 0 || copy.pid != 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
