/*-------------------------------------------------------------------------
 *
 * durability.c
 *	  Durability per queue and per stream: a transaction that sends to,
 *	  publishes into or appends to a 'replicated' queue or stream commits
 *	  only once a synchronous standby has flushed it, and such a send fails
 *	  at once when too few synchronous standbys stream (Kafka's acks=all
 *	  with min.insync.replicas).  See doc/operations.md ("Durability").
 *
 * PostgreSQL already knows how to wait for standbys at commit: with
 * synchronous_standby_names set and synchronous_commit at least on, the
 * commit record is flushed by num_sync standbys before the commit returns.
 * What it lacks is a per-object choice: synchronous_commit belongs to the
 * session (or the transaction), and a producer that set it off -- or
 * local, or remote_write -- would keep a single copy of a message that its
 * queue promised to replicate.  So the first send of a transaction to a
 * replicated object registers it here, and at PRE_COMMIT (and PRE_PREPARE,
 * whose prepare record is waited for the same way) this file raises the
 * transaction's synchronous_commit to on, as SET LOCAL would; remote_apply
 * stays as it is.  Doing it at the send would not do: a SET LOCAL made
 * inside a function with a SET clause of its own (mq's SECURITY DEFINER
 * functions, a user's wrapper with SET synchronous_commit = off) is undone
 * when that function returns, and the session may set synchronous_commit
 * again after the send.  At PRE_COMMIT nothing of the transaction's own can
 * run any more (deferred triggers have fired), and the GUC machinery puts
 * the session's value back when the transaction ends.  A send whose
 * savepoint rolled back still raises it: that costs a wait, never a copy.
 *
 * Waiting alone is not enough: with no synchronous standby streaming the
 * commit would hang (or, were synchronous_standby_names empty, not wait at
 * all).  Each send therefore counts the synchronous standbys the commit
 * would wait for: the walsenders that are streaming with a synchronous
 * priority, as SyncRepGetCandidateStandbys() reports them (in priority
 * mode only the num_sync chosen ones; pg_stat_replication's sync_state
 * 'sync' or 'quorum'), and at most num_sync of them, since a commit waits
 * for no more.  That is one pass over max_wal_senders slots in shared
 * memory, each under its spinlock: well under a microsecond at the
 * default of 10, next to the insert it guards.  Fewer than the object's
 * min_replicas fail the send (53000, insufficient_resources: a condition of
 * the server that a retry may find gone) before anything is written.
 *
 * What consumers do to a replicated queue or stream -- a lease, an ack, a
 * group's commit -- waits at commit the same way (mq_durability_wait), or
 * a failover could undo it: a lease forgotten hands the message to a
 * second consumer while the first still holds it, an ack forgotten
 * delivers the message again, a commit forgotten replays records.  Those
 * calls count no standbys: they must go on while the primary is alone
 * (an HA manager then empties synchronous_standby_names, and nothing
 * waits).
 *
 * What the count cannot promise is PostgreSQL's: a standby that stops
 * between the send and the commit leaves the commit waiting until one is
 * back; a commit whose wait is cancelled (or whose backend is terminated)
 * is already durable locally and visible, with only PostgreSQL's WARNING to
 * say that the standby may not have it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "replication/syncrep.h"
#include "utils/guc.h"

#include "durability.h"

/* this transaction sent to a replicated queue or stream */
static bool replicated_in_xact = false;

/* The synchronous standbys that a commit now waits for and that stream. */
static int
sync_standbys(void)
{
	SyncRepStandbyData *standbys;
	int			n;

	n = SyncRepGetCandidateStandbys(&standbys);
	pfree(standbys);
	if (SyncRepConfig == NULL)
		return 0;
	return Min(n, SyncRepConfig->num_sync);
}

/* At PRE_COMMIT (PRE_PREPARE): wait for the standbys; at the end: forget. */
static void
durability_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (replicated_in_xact &&
				synchronous_commit < SYNCHRONOUS_COMMIT_REMOTE_FLUSH)
				(void) set_config_option("synchronous_commit", "on",
										 PGC_USERSET, PGC_S_SESSION,
										 GUC_ACTION_LOCAL, true, 0, false);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			replicated_in_xact = false;
			break;
		default:
			break;
	}
}

/* Make this transaction's commit wait for the synchronous standbys. */
static void
wait_at_commit(void)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(durability_xact_callback, NULL);
		registered = true;
	}
	replicated_in_xact = true;
}

void
mq_durability_require(int32 min_replicas, const char *kind, const char *name)
{
	int			streaming;

	if (min_replicas <= 0)
		return;
	streaming = sync_standbys();
	if (streaming < min_replicas)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("not enough synchronous standbys for replicated %s \"%s\"",
						kind, name),
				 errdetail("min_replicas is %d; synchronous standbys streaming: %d.",
						   min_replicas, streaming),
				 errhint("Start a standby named in synchronous_standby_names, or lower the %s's min_replicas or make it 'local' with mq.alter_%s().",
						 kind, kind)));
	wait_at_commit();
}

void
mq_durability_wait(int32 min_replicas)
{
	if (min_replicas > 0)
		wait_at_commit();
}
