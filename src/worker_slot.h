/*-------------------------------------------------------------------------
 *
 * worker_slot.h
 *	  The databases the workers serve, in shared memory, the pool of
 *	  workers among them, and the wakeups commits give them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_WORKER_SLOT_H
#define MQ_WORKER_SLOT_H

#include "datatype/timestamp.h"

/* what a commit wants of its database's worker (bits) */
#define MQ_WORK_ACTIVITY	0x01	/* a round: a deadline may be earlier */
#define MQ_WORK_NOTIFY		0x02	/* NOTIFYs are pending (wait.c) */
#define MQ_WORK_ENDS		0x04	/* a stream's readable end moved */

/* databases served at most (those past it get no worker) */
#define MQ_MAX_DATABASES	4096

/* a worker asked to make way for waiting databases has served this long */
#define MQ_WORKER_TURN_MS	1000

/* a worker that stopped without leaving is replaced after this long */
#define MQ_RESTART_SECONDS	5

/* shared memory, from mq.c's hooks when preloaded */
extern void mq_worker_slots_shmem_request(void);
extern void mq_worker_slots_shmem_startup(void);
extern bool mq_worker_slots_available(void);

/* for the launcher */
extern void mq_launcher_claim(void);
extern bool mq_databases_rescan_wanted(void);
extern int	mq_databases_sync(Oid *dboids, int n);
extern int	mq_pool_plan(TimestampTz now, int max_workers, Oid *start,
						 uint32 *generations, int *nstart, TimestampTz *wake);
extern bool mq_database_worker_stopped(Oid dboid, TimestampTz now, bool started);

/* for the worker: its database's entry, its wakeups, what mq.workers shows */
extern TimestampTz mq_worker_slot_claim(Oid dboid, uint32 generation);
extern void mq_worker_leave(TimestampTz next_due, bool absent,
							TimestampTz activity_at);
extern void mq_worker_slot_present(void);
extern bool mq_pool_contended(void);
extern bool mq_worker_yield_asked(void);
extern uint32 mq_worker_take_wanted(void);
extern uint32 mq_worker_peek_wanted(void);
extern void mq_worker_report_work(const char *work);
extern void mq_worker_report_sleep(TimestampTz wake_at);

/* the pids of the workers serving dboid (at most max) */
extern int	mq_worker_slot_pids(Oid dboid, pid_t *pids, int max);

/* wake this database's worker now (for a commit that is visible) */
extern void mq_worker_wake(uint32 why);

/* if this transaction commits having written, wake the worker for a round */
extern void mq_worker_wake_at_commit(void);

/* when this transaction commits, wake the worker of a database with mq */
extern void mq_worker_wake_at_commit_always(void);

/* when this transaction commits, the launcher lists the databases again */
extern void mq_launcher_rescan_at_commit(void);

#endif							/* MQ_WORKER_SLOT_H */
