/*-------------------------------------------------------------------------
 *
 * group.c
 *	  Stream consumer groups: members, the assignment of partitions to
 *	  them, polls and committed positions.  See src/README.md ("Streams").
 *
 * Shared memory holds, per group, its members (consumer name, last poll,
 * session timeout) and per (group, partition) its holder, a generation
 * raised at every change of holder or seek, the epoch of its committed
 * positions, and the holder's start and fetch positions.  Every poll is a
 * heartbeat of its consumer; it drops members whose session timed out and
 * rebalances: the live members, sorted by name, each get floor or ceil of
 * P / C partitions, and a partition keeps its holder whenever that holder is
 * still under its share (so a join or a leave moves only what it must).
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
 * once when the commit is in the same transaction as their results.
 *
 * A poll delivers records from the holder's fetch position up to the
 * partition's readable end (stream_position.c) and moves the fetch
 * position past them; a poll whose transaction (or savepoint) rolls back moves it back,
 * so its records come again.  Nothing here survives a restart, and nothing
 * needs to: members join again with their next poll and holders start at
 * the committed positions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "args.h"
#include "compat.h"
#include "group.h"
#include "guc.h"
#include "privilege.h"
#include "spi.h"
#include "stream_int.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(mq_poll);
PG_FUNCTION_INFO_V1(mq_commit);
PG_FUNCTION_INFO_V1(mq_group_reset);
PG_FUNCTION_INFO_V1(mq_group_forget);
PG_FUNCTION_INFO_V1(mq_partition_holder);
PG_FUNCTION_INFO_V1(mq_stream_end);
PG_FUNCTION_INFO_V1(mq_stream_start);

#define MQ_CONSUMER_MAXLEN 128

/* advisory lock tag space of (group, partition) fencing locks: "ms" */
#define MQ_LOCKTAG_PARTITION 0x6d73

typedef struct MemberKey
{
	Oid			dbid;
	int32		group_id;
	char		consumer[MQ_CONSUMER_MAXLEN + 1];
} MemberKey;

typedef struct Member
{
	MemberKey	key;
	TimestampTz last_poll;
	int64		timeout;		/* session timeout, microseconds */
} Member;

typedef struct AssignKey
{
	Oid			dbid;
	int32		group_id;
	int32		partition;
} AssignKey;

typedef struct Assignment
{
	AssignKey	key;
	char		holder[MQ_CONSUMER_MAXLEN + 1]; /* "" : none */
	uint64		generation;		/* raised at each change of holder, seek */
	int64		epoch;			/* of the committed positions */
	int64		start;			/* committed position at takeover; -1 unknown */
	int64		fetch;			/* next position for the holder; -1 unknown */
} Assignment;

typedef struct GroupShared
{
	LWLock	   *lock;
} GroupShared;

static GroupShared *group_shared = NULL;
static HTAB *members = NULL;
static HTAB *assignments = NULL;

/* polls of this transaction, undone if it (or their savepoint) rolls back */
typedef struct PollUndo
{
	AssignKey	key;
	uint64		generation;
	int64		old_fetch;
	int64		new_fetch;
	int			level;
} PollUndo;

static List *undo = NIL;
static List *to_forget = NIL;	/* group ids dropped by this transaction */
static bool callbacks_registered = false;

void
mq_group_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(GroupShared)));
	RequestAddinShmemSpace(hash_estimate_size(mq_max_stream_consumers, sizeof(Member)));
	RequestAddinShmemSpace(hash_estimate_size(mq_max_group_partitions, sizeof(Assignment)));
	RequestNamedLWLockTranche("mq consumer groups", 1);
}

void
mq_group_shmem_startup(void)
{
	bool		found;
	HASHCTL		ctl;

	/* mq.c holds AddinShmemInitLock */
	group_shared = ShmemInitStruct("mq consumer groups", sizeof(GroupShared), &found);
	if (!found)
		group_shared->lock = &(GetNamedLWLockTranche("mq consumer groups"))->lock;
	ctl.keysize = sizeof(MemberKey);
	ctl.entrysize = sizeof(Member);
	members = mq_shmem_init_hash("mq stream consumers", mq_max_stream_consumers, &ctl,
								 HASH_ELEM | HASH_BLOBS);
	ctl.keysize = sizeof(AssignKey);
	ctl.entrysize = sizeof(Assignment);
	assignments = mq_shmem_init_hash("mq group partitions", mq_max_group_partitions, &ctl,
									 HASH_ELEM | HASH_BLOBS);
}

static void
assign_key(AssignKey *key, int32 group_id, int32 partition)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->group_id = group_id;
	key->partition = partition;
}

static void
partition_locktag(LOCKTAG *tag, int32 group_id, int32 partition)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) group_id,
						 (uint32) partition, MQ_LOCKTAG_PARTITION);
}

/* forget the shared state of a group */
static void
forget_group(int32 group_id)
{
	HASH_SEQ_STATUS status;
	Member	   *m;
	Assignment *a;

	LWLockAcquire(group_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, members);
	while ((m = hash_seq_search(&status)) != NULL)
		if (m->key.dbid == MyDatabaseId && m->key.group_id == group_id)
			hash_search(members, &m->key, HASH_REMOVE, NULL);
	hash_seq_init(&status, assignments);
	while ((a = hash_seq_search(&status)) != NULL)
		if (a->key.dbid == MyDatabaseId && a->key.group_id == group_id)
			hash_search(assignments, &a->key, HASH_REMOVE, NULL);
	LWLockRelease(group_shared->lock);
}

/* put a poll's fetch position back, if nothing moved it since */
static void
undo_poll(PollUndo *u)
{
	Assignment *a;

	a = hash_search(assignments, &u->key, HASH_FIND, NULL);
	if (a != NULL && a->generation == u->generation && a->fetch == u->new_fetch)
		a->fetch = u->old_fetch;
}

static void
group_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (undo != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that polled a stream"),
						 errdetail("If it were rolled back later, its records would not come again.")));
			return;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			foreach(lc, to_forget)
				forget_group(lfirst_int(lc));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (undo != NIL && group_shared != NULL)
			{
				int			i;

				LWLockAcquire(group_shared->lock, LW_EXCLUSIVE);
				for (i = list_length(undo) - 1; i >= 0; i--)
					undo_poll((PollUndo *) list_nth(undo, i));
				LWLockRelease(group_shared->lock);
			}
			break;
		default:
			return;
	}
	list_free_deep(undo);
	undo = NIL;
	list_free(to_forget);
	to_forget = NIL;
}

static void
group_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	List	   *kept = NIL;
	int			i;

	if (undo == NIL ||
		(event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB))
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		LWLockAcquire(group_shared->lock, LW_EXCLUSIVE);
	for (i = list_length(undo) - 1; i >= 0; i--)
	{
		PollUndo   *u = (PollUndo *) list_nth(undo, i);

		if (u->level >= level)
		{
			if (event == SUBXACT_EVENT_ABORT_SUB)
			{
				undo_poll(u);
				pfree(u);
				continue;
			}
			u->level = level - 1;
		}
		kept = lcons(u, kept);
	}
	if (event == SUBXACT_EVENT_ABORT_SUB)
		LWLockRelease(group_shared->lock);
	list_free(undo);
	undo = kept;
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(group_xact_callback, NULL);
	RegisterSubXactCallback(group_subxact_callback, NULL);
	callbacks_registered = true;
}

/* a consumer group as a call needs it */
typedef struct ConsumerGroup
{
	MqStream	s;
	int32		id;
	char		name[MQ_NAME_MAXLEN + 1];
} ConsumerGroup;

static SPIPlanPtr group_plan = NULL;
static SPIPlanPtr committed_plan = NULL;
static SPIPlanPtr epochs_plan = NULL;
static SPIPlanPtr commit_plans[2] = {NULL, NULL};

static void
group_find(text *stream, text *group, ConsumerGroup *g, bool checked)
{
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	Datum		args[2];
	bool		isnull;

	if (checked)
		mq_stream_lookup(stream, &g->s, MQ_PRIV_READ);
	else
		mq_stream_find(stream, &g->s);
	mq_name_key("consumer group", group, g->name);
	args[0] = Int32GetDatum(g->s.id);
	args[1] = CStringGetTextDatum(g->name);
	mq_spi_connect();
	if (group_plan == NULL)
		group_plan = mq_keep_plan("SELECT group_id FROM mq._stream_group"
								  " WHERE stream_id OPERATOR(pg_catalog.=) $1"
								  " AND group_name OPERATOR(pg_catalog.=) $2",
								  2, argtypes);
	if (mq_execute_plan_as_owner(group_plan, args, NULL, 1) != SPI_OK_SELECT)
		elog(ERROR, "consumer group look-up failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer group \"%s\" of stream \"%s\" does not exist",
						g->name, g->s.name),
				 errhint("Create it with mq.create_consumer_group().")));
	g->id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
}

/* a group of a stream the caller may use */
static void
group_lookup(text *stream, text *group, ConsumerGroup *g)
{
	group_find(stream, group, g, true);
}

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

static void
too_many_group_partitions(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("too many consumer group partitions in use (mq.max_group_partitions is %d)",
					mq_max_group_partitions),
			 errhint("Raise mq.max_group_partitions and restart the server.")));
}

/*
 * Make sure shared memory knows every partition of the group; a partition
 * new to it takes its epoch from the stored commits.
 */
static void
group_ensure(ConsumerGroup *g)
{
	AssignKey	key;
	int64	   *epochs;
	int32		p;
	bool		missing = false;
	uint64		i;

	LWLockAcquire(group_shared->lock, LW_SHARED);
	for (p = 0; p < g->s.partitions && !missing; p++)
	{
		assign_key(&key, g->id, p);
		missing = hash_search(assignments, &key, HASH_FIND, NULL) == NULL;
	}
	LWLockRelease(group_shared->lock);
	if (!missing)
		return;

	epochs = palloc0(sizeof(int64) * g->s.partitions);
	{
		Oid			argtype = INT4OID;
		Datum		arg = Int32GetDatum(g->id);

		mq_spi_connect();
		if (epochs_plan == NULL)
			epochs_plan = mq_keep_plan("SELECT partition, pg_catalog.max(epoch)"
									   " FROM mq._stream_commit"
									   " WHERE group_id OPERATOR(pg_catalog.=) $1"
									   " GROUP BY partition", 1, &argtype);
		if (mq_execute_plan_as_owner(epochs_plan, &arg, NULL, 0) != SPI_OK_SELECT)
			elog(ERROR, "consumer group epoch look-up failed");
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int32		part = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));

			if (part >= 0 && part < g->s.partitions)
				epochs[part] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 2, &isnull));
		}
		SPI_finish();
	}

	LWLockAcquire(group_shared->lock, LW_EXCLUSIVE);
	for (p = 0; p < g->s.partitions; p++)
	{
		Assignment *a;
		bool		found;

		assign_key(&key, g->id, p);
		a = hash_search(assignments, &key, HASH_FIND, NULL);
		if (a != NULL)
			continue;
		if (hash_get_num_entries(assignments) >= mq_max_group_partitions ||
			(a = hash_search(assignments, &key, HASH_ENTER_NULL, &found)) == NULL)
		{
			LWLockRelease(group_shared->lock);
			too_many_group_partitions();
		}
		a->holder[0] = '\0';
		a->generation = 0;
		a->epoch = epochs[p];
		a->start = -1;
		a->fetch = -1;
	}
	LWLockRelease(group_shared->lock);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * Drop the group's members whose session timed out and give its partitions
 * to the live ones: each gets floor or ceil of P / C (the first P mod C in
 * name order the ceil), and a holder keeps what it holds up to its share.
 * Called with the lock held exclusively.
 */
static void
rebalance(ConsumerGroup *g, TimestampTz now)
{
	HASH_SEQ_STATUS status;
	Member	   *m;
	char	  **names;
	int		   *count;
	int			n = 0;
	int			max = 16;
	int32		p;
	Assignment **parts = palloc(sizeof(Assignment *) * g->s.partitions);

	names = palloc(sizeof(char *) * max);
	hash_seq_init(&status, members);
	while ((m = hash_seq_search(&status)) != NULL)
	{
		if (m->key.dbid != MyDatabaseId || m->key.group_id != g->id)
			continue;
		if (m->last_poll + m->timeout < now)
		{
			hash_search(members, &m->key, HASH_REMOVE, NULL);
			continue;
		}
		if (n == max)
		{
			max *= 2;
			names = repalloc(names, sizeof(char *) * max);
		}
		names[n++] = m->key.consumer;
	}
	if (n > 1)
		qsort(names, n, sizeof(char *), cmp_names);
	count = palloc0(sizeof(int) * Max(n, 1));

	/* holders keep what they hold, up to their share */
	for (p = 0; p < g->s.partitions; p++)
	{
		AssignKey	key;
		Assignment *a;
		char	  **found = NULL;

		assign_key(&key, g->id, p);
		a = hash_search(assignments, &key, HASH_FIND, NULL);
		parts[p] = a;
		if (a == NULL)
			continue;			/* not ensured yet: a new partition */
		if (a->holder[0] != '\0' && n > 0)
		{
			char	   *h = a->holder;

			found = bsearch(&h, names, n, sizeof(char *), cmp_names);
		}
		if (found != NULL)
		{
			int			i = found - names;
			int			share = g->s.partitions / n + (i < g->s.partitions % n ? 1 : 0);

			if (count[i] < share)
			{
				count[i]++;
				continue;
			}
		}
		/* the partition is free */
		if (a->holder[0] != '\0')
		{
			a->holder[0] = '\0';
			a->generation++;
			a->start = a->fetch = -1;
		}
	}

	/* free partitions go to the members under their share, in name order */
	if (n > 0)
	{
		int			i = 0;

		for (p = 0; p < g->s.partitions; p++)
		{
			Assignment *a = parts[p];

			if (a == NULL || a->holder[0] != '\0')
				continue;
			while (count[i] >= g->s.partitions / n + (i < g->s.partitions % n ? 1 : 0))
				i++;
			Assert(i < n);
			strlcpy(a->holder, names[i], sizeof(a->holder));
			a->generation++;
			a->start = a->fetch = -1;
			count[i]++;
		}
	}
}

/* a consumer name as a key */
static void
consumer_key(text *consumer, char *key)
{
	int			len = VARSIZE_ANY_EXHDR(consumer);

	if (len < 1 || len > MQ_CONSUMER_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("consumer name must have 1 to %d bytes", MQ_CONSUMER_MAXLEN),
				 errhint("Name each consumer of a group uniquely, for example by host and process.")));
	memset(key, 0, MQ_CONSUMER_MAXLEN + 1);
	memcpy(key, VARDATA_ANY(consumer), len);
	if (memchr(key, '\0', len) != NULL)
		elog(ERROR, "consumer name contains a zero byte");
}

/*
 * The arguments poll and commit share: on a primary; stream, group and
 * consumer not NULL; the consumer's name as a key.
 */
static void
consumer_arguments(FunctionCallInfo fcinfo, char *consumer)
{
	mq_require_primary_fn(fcinfo);
	if (PG_ARGISNULL(0))
		mq_null_argument("stream name");
	if (PG_ARGISNULL(1))
		mq_null_argument("consumer group");
	if (PG_ARGISNULL(2))
		mq_null_argument("consumer");
	consumer_key(PG_GETARG_TEXT_PP(2), consumer);
}

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

	partition_locktag(&tag, pa->g->id, h->partition);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return false;
	LockRelease(&tag, ExclusiveLock, false);
	pos = committed_position(pa->g->id, h->partition);

	assign_key(&key, pa->g->id, h->partition);
	LWLockAcquire(group_shared->lock, LW_EXCLUSIVE);
	a = hash_search(assignments, &key, HASH_FIND, NULL);
	if (a != NULL && a->generation == h->generation &&
		strcmp(a->holder, pa->consumer) == 0)
	{
		if (a->start < 0)
			a->start = a->fetch = pos;
		h->start = a->start;
		h->fetch = a->fetch;
		ok = true;
	}
	LWLockRelease(group_shared->lock);
	return ok;
}

/* one poll: heartbeat, rebalance, records of the held partitions */
static bool
poll_attempt(void *arg, TimestampTz *not_before)
{
	PollArg    *pa = (PollArg *) arg;
	ConsumerGroup	   *g = pa->g;
	MemberKey	mkey;
	Member	   *m;
	bool		found;
	Held	   *held = palloc(sizeof(Held) * g->s.partitions);
	int			nheld = 0;
	int			i;
	int64		remaining = pa->max;
	TimestampTz now = GetCurrentTimestamp();
	TupleTableSlot *slot = NULL;

	group_ensure(g);

	memset(&mkey, 0, sizeof(mkey));
	mkey.dbid = MyDatabaseId;
	mkey.group_id = g->id;
	memcpy(mkey.consumer, pa->consumer, sizeof(mkey.consumer));
	LWLockAcquire(group_shared->lock, LW_EXCLUSIVE);
	m = hash_search(members, &mkey, HASH_FIND, NULL);
	if (m == NULL)
	{
		if (hash_get_num_entries(members) >= mq_max_stream_consumers ||
			(m = hash_search(members, &mkey, HASH_ENTER_NULL, &found)) == NULL)
		{
			LWLockRelease(group_shared->lock);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many stream consumers (mq.max_stream_consumers is %d)",
							mq_max_stream_consumers),
					 errhint("Raise mq.max_stream_consumers and restart the server, or use fewer consumer names.")));
		}
	}
	m->last_poll = now;
	m->timeout = pa->timeout;
	rebalance(g, now);
	for (i = 0; i < g->s.partitions; i++)
	{
		AssignKey	key;
		Assignment *a;

		assign_key(&key, g->id, i);
		a = hash_search(assignments, &key, HASH_FIND, NULL);
		if (a == NULL || strcmp(a->holder, pa->consumer) != 0)
			continue;
		held[nheld].partition = i;
		held[nheld].generation = a->generation;
		held[nheld].start = a->start;
		held[nheld].fetch = a->fetch;
		nheld++;
	}
	LWLockRelease(group_shared->lock);

	/* each poll starts at another of its partitions, so none starves */
	for (i = 0; i < nheld && remaining > 0; i++)
	{
		Held	   *h = &held[(i + poll_turn) % nheld];
		int64		end;
		int64		last = -1;
		uint64		n;
		Tuplestorestate *ts;
		AssignKey	key;
		Assignment *a;
		bool		keep = false;
		int64		new_fetch;

		if (h->start < 0 && !take_over(pa, h))
			continue;
		end = mq_stream_readable_end(&g->s, h->partition);
		if (h->fetch >= end)
			continue;
		ts = tuplestore_begin_heap(false, false, work_mem);
		n = mq_stream_read(&g->s, h->partition, h->fetch, end, remaining, ts,
						   pa->rsinfo->setDesc, &last);
		new_fetch = (int64) n < remaining ? end : last + 1;

		/* deliver them unless another poll of this consumer moved first */
		assign_key(&key, g->id, h->partition);
		LWLockAcquire(group_shared->lock, LW_EXCLUSIVE);
		a = hash_search(assignments, &key, HASH_FIND, NULL);
		if (a != NULL && a->generation == h->generation && a->fetch == h->fetch &&
			strcmp(a->holder, pa->consumer) == 0)
		{
			a->fetch = new_fetch;
			keep = true;
		}
		LWLockRelease(group_shared->lock);
		if (keep)
		{
			PollUndo   *u = MemoryContextAlloc(TopMemoryContext, sizeof(PollUndo));
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			u->key = key;
			u->generation = h->generation;
			u->old_fetch = h->fetch;
			u->new_fetch = new_fetch;
			u->level = GetCurrentTransactionNestLevel();
			undo = lappend(undo, u);
			MemoryContextSwitchTo(old);

			if (slot == NULL)
				slot = MakeSingleTupleTableSlot(pa->rsinfo->setDesc, &TTSOpsMinimalTuple);
			while (tuplestore_gettupleslot(ts, true, false, slot))
				tuplestore_puttupleslot(pa->rsinfo->setResult, slot);
			remaining -= n;
		}
		tuplestore_end(ts);
	}
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

	consumer_arguments(fcinfo, pa.consumer);
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
	mq_stream_require_read_committed("mq.poll()");
	mq_stream_require_shmem();
	group_lookup(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), &g);
	register_callbacks();

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	pa.g = &g;
	pa.rsinfo = rsinfo;
	if (deadline > now)
		mq_wait_until(MQ_STREAM_WAIT_KEY(g.s.id), deadline, poll_attempt, &pa);
	else
		(void) poll_attempt(&pa, NULL);
	return (Datum) 0;
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
	AssignKey	key;
	MemberKey	mkey;
	Assignment *a;
	Member	   *m;
	int64		epoch = 0;
	int64		start = -1;
	int64		fetch = -1;
	bool		live;
	char		holder[MQ_CONSUMER_MAXLEN + 1];
	TimestampTz now = GetCurrentTimestamp();

	consumer_arguments(fcinfo, consumer);
	if (PG_ARGISNULL(3))
		mq_null_argument("partition");
	if (PG_ARGISNULL(4))
		mq_null_argument("position");
	partition = PG_GETARG_INT32(3);
	position = PG_GETARG_INT64(4);
	mq_stream_require_shmem();
	group_lookup(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), &g);
	mq_stream_check_partition(&g.s, partition);
	if (position < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("position must not be negative"),
				 errhint("Commit the position after the last record processed (its position + 1).")));

	/* first the fence, then the check (see the file header) */
	partition_locktag(&tag, g.id, partition);
	(void) LockAcquire(&tag, ShareLock, false, false);

	assign_key(&key, g.id, partition);
	memset(&mkey, 0, sizeof(mkey));
	mkey.dbid = MyDatabaseId;
	mkey.group_id = g.id;
	memcpy(mkey.consumer, consumer, sizeof(mkey.consumer));
	holder[0] = '\0';
	LWLockAcquire(group_shared->lock, LW_SHARED);
	a = hash_search(assignments, &key, HASH_FIND, NULL);
	m = hash_search(members, &mkey, HASH_FIND, NULL);
	live = m != NULL && m->last_poll + m->timeout >= now;
	if (a != NULL)
	{
		strlcpy(holder, a->holder, sizeof(holder));
		epoch = a->epoch;
		start = a->start;
		fetch = a->fetch;
	}
	LWLockRelease(group_shared->lock);

	if (strcmp(holder, consumer) != 0 || !live)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("consumer \"%s\" does not hold partition %d of consumer group \"%s\"",
						consumer, partition, g.name),
				 !live ? errdetail("Its session timed out, or it has not polled since the server started.") :
				 holder[0] ? errdetail("The partition is held by consumer \"%s\".", holder) :
				 errdetail("The partition has no holder."),
				 errhint("Roll back: the partition's holder gets these records again from the committed position. Then poll again.")));
	if (start < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("consumer \"%s\" has not polled partition %d of consumer group \"%s\" since it was assigned or sought",
						consumer, partition, g.name),
				 errhint("Roll back and poll again: the records come again from the committed position.")));
	if (position > fetch)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("position " INT64_FORMAT " of partition %d has not been delivered to consumer \"%s\"",
						position, partition, consumer),
				 errdetail("The records delivered to it end before position " INT64_FORMAT ".", fetch),
				 errhint("Commit the position after the last record processed (its position + 1).")));
	if (position <= start)
		PG_RETURN_VOID();		/* never behind the committed position */

	{
		Oid			argtypes[5] = {INT4OID, INT4OID, INT8OID, INT8OID, TEXTOID};
		Datum		args[5];

		/* the table in turn this minute (mq._commit_table() agrees) */
		int			t = (int) ((GetCurrentTimestamp() / USECS_PER_MINUTE) % 2);

		args[0] = Int32GetDatum(g.id);
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
	PG_RETURN_VOID();
}

/*
 * mq._group_reset(stream text, group_id int, partition int) returns bigint:
 * mq.seek()'s step in shared memory.  Fences the partition for the rest of
 * the transaction, raises its epoch (returned, for the seek's row) and its
 * generation, and makes the holder start again at the committed position.
 */
Datum
mq_group_reset(PG_FUNCTION_ARGS)
{
	ConsumerGroup g;
	int32		partition = PG_GETARG_INT32(2);
	LOCKTAG		tag;
	AssignKey	key;
	Assignment *a;
	int64		epoch;

	mq_stream_require_shmem();
	mq_stream_lookup(PG_GETARG_TEXT_PP(0), &g.s, MQ_PRIV_READ);
	g.id = PG_GETARG_INT32(1);
	strlcpy(g.name, "", sizeof(g.name));
	mq_stream_check_partition(&g.s, partition);
	partition_locktag(&tag, g.id, partition);
	(void) LockAcquire(&tag, ShareLock, false, false);
	group_ensure(&g);
	assign_key(&key, g.id, partition);
	LWLockAcquire(group_shared->lock, LW_EXCLUSIVE);
	a = hash_search(assignments, &key, HASH_FIND, NULL);
	if (a == NULL)
	{
		LWLockRelease(group_shared->lock);
		too_many_group_partitions();
	}
	epoch = ++a->epoch;
	a->generation++;
	a->start = a->fetch = -1;
	LWLockRelease(group_shared->lock);
	PG_RETURN_INT64(epoch);
}

/* mq._group_forget(group_id int): forget a dropped group when the drop commits */
Datum
mq_group_forget(PG_FUNCTION_ARGS)
{
	MemoryContext old;

	if (group_shared == NULL)
		PG_RETURN_VOID();
	register_callbacks();
	old = MemoryContextSwitchTo(TopMemoryContext);
	to_forget = lappend_int(to_forget, PG_GETARG_INT32(0));
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
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
	group_find(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), &g, false);
	mq_stream_check_partition(&g.s, partition);
	if (group_shared != NULL && !RecoveryInProgress())
	{
		assign_key(&key, g.id, partition);
		LWLockAcquire(group_shared->lock, LW_SHARED);
		a = hash_search(assignments, &key, HASH_FIND, NULL);
		if (a != NULL && a->holder[0] != '\0')
		{
			memset(&mkey, 0, sizeof(mkey));
			mkey.dbid = MyDatabaseId;
			mkey.group_id = key.group_id;
			strlcpy(mkey.consumer, a->holder, sizeof(mkey.consumer));
			m = hash_search(members, &mkey, HASH_FIND, NULL);
			if (m != NULL && m->last_poll + m->timeout >= GetCurrentTimestamp())
			{
				values[0] = CStringGetTextDatum(a->holder);
				values[1] = TimestampTzGetDatum(m->last_poll + m->timeout);
				nulls[0] = nulls[1] = false;
			}
		}
		LWLockRelease(group_shared->lock);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * mq.stream_end(stream text, partition int) returns bigint: the end of a
 * partition -- its readable end on a primary with mq preloaded, else one
 * past its greatest stored position.
 */
Datum
mq_stream_end(PG_FUNCTION_ARGS)
{
	MqStream	s;
	int32		partition = PG_GETARG_INT32(1);

	mq_stream_find(PG_GETARG_TEXT_PP(0), &s);
	mq_stream_check_partition(&s, partition);
	if (group_shared == NULL || RecoveryInProgress())
		PG_RETURN_INT64(mq_stream_stored_next(&s, partition));
	PG_RETURN_INT64(mq_stream_readable_end(&s, partition));
}

/*
 * mq.stream_start(stream text, partition int) returns bigint: the first
 * position of a partition that retention has kept (its end when it keeps
 * none).
 */
Datum
mq_stream_start(PG_FUNCTION_ARGS)
{
	MqStream	s;
	int32		partition = PG_GETARG_INT32(1);
	int64		end;

	mq_stream_find(PG_GETARG_TEXT_PP(0), &s);
	mq_stream_check_partition(&s, partition);
	if (group_shared == NULL || RecoveryInProgress())
		end = mq_stream_stored_next(&s, partition);
	else
		end = mq_stream_readable_end(&s, partition);
	PG_RETURN_INT64(mq_stream_earliest(&s, partition, end));
}
