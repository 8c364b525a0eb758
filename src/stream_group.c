/*-------------------------------------------------------------------------
 *
 * stream_group.c
 *	  Streams: consumer groups in shared memory.  Its set-up, the look-up
 *	  of a group, a group's partitions in shared memory, the callbacks that
 *	  undo a rolled-back poll and forget a dropped group, and consumer
 *	  names.  See src/README.md ("Streams").
 *
 * Shared memory holds, per group, its members (consumer name, last poll,
 * session timeout) and per (group, partition) its holder, a generation
 * raised at every change of holder or seek, the epoch of its committed
 * positions, and the holder's start and fetch positions, under one LWLock.
 * Polls keep the members and give out the partitions (stream_rebalance.c);
 * a partition new to shared memory takes its epoch from the stored commits
 * (stream_commit.c has how commits are stored).
 *
 * A poll moves its holder's fetch position past the records it delivers
 * (stream_poll.c) and lists the move here; when its transaction (or
 * savepoint) rolls back the callbacks move it back, so its records come
 * again.  A dropped group leaves shared memory when its drop commits
 * (not when the drop's savepoint rolls back), and a group whose creation
 * rolls back leaves it then; a consumer that joined in a transaction (or
 * savepoint) that rolls back leaves too, unless it polled again since.
 * Nothing here survives a restart, and nothing needs to: members join
 * again with their next poll and holders start at the committed positions.
 *
 * Both tables are bounded (mq.max_stream_consumers, mq.max_group_partitions)
 * and shared by every role, so each entry is charged to the role that made
 * it -- the current user of the poll that registered the consumer, or that
 * first brought the group's partitions into shared memory -- and no role
 * holds more than mq.max_stream_consumers_per_role and
 * mq.max_group_partitions_per_role of them (quota.c).  When there is no
 * room for a consumer, members whose session timed out (in any group, even
 * one nobody polls any more) leave first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "args.h"
#include "compat.h"
#include "guc.h"
#include "privilege.h"
#include "quota.h"
#include "spi.h"
#include "stream_int.h"

PG_FUNCTION_INFO_V1(mq_group_forget);
PG_FUNCTION_INFO_V1(mq_group_made);

/* advisory lock tag space of (group, partition) fencing locks: "ms" */
#define MQ_LOCKTAG_PARTITION 0x6d73

ConsumerGroupShared *mq_consumer_group_shared = NULL;
HTAB	   *mq_consumer_group_members = NULL;
HTAB	   *mq_consumer_group_assignments = NULL;
static HTAB *member_roles = NULL;	/* consumers per role (quota.c) */
static HTAB *assignment_roles = NULL;	/* (group, partition) pairs per role */

/* polls of this transaction, undone if it (or their savepoint) rolls back */
typedef struct PollUndo
{
	AssignKey	key;
	uint64		generation;
	int64		old_fetch;
	int64		new_fetch;
	int			level;
} PollUndo;

/* a consumer that joined in this transaction, to leave if it rolls back */
typedef struct JoinUndo
{
	MemberKey	key;
	TimestampTz last_poll;		/* its last heartbeat in this transaction */
	int			level;
} JoinUndo;

/*
 * Groups dropped by this transaction (forgotten at commit) or made by it
 * (forgotten at abort), with the nesting level
 */
typedef struct GroupNote
{
	int32		group_id;
	bool		made;
	int			level;
} GroupNote;

static List *undo = NIL;
static List *joins = NIL;
static List *groups = NIL;
static bool callbacks_registered = false;

void
mq_consumer_group_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(ConsumerGroupShared)));
	RequestAddinShmemSpace(hash_estimate_size(mq_max_stream_consumers, sizeof(Member)));
	RequestAddinShmemSpace(hash_estimate_size(mq_max_group_partitions, sizeof(Assignment)));
	RequestAddinShmemSpace(mq_quota_shmem_size(mq_max_stream_consumers));
	RequestAddinShmemSpace(mq_quota_shmem_size(mq_max_group_partitions));
	RequestNamedLWLockTranche("mq consumer groups", 1);
}

void
mq_consumer_group_shmem_startup(void)
{
	bool		found;
	HASHCTL		ctl;

	/* mq.c holds AddinShmemInitLock */
	mq_consumer_group_shared = ShmemInitStruct("mq consumer groups",
											   sizeof(ConsumerGroupShared),
											   &found);
	if (!found)
		mq_consumer_group_shared->lock =
			&(GetNamedLWLockTranche("mq consumer groups"))->lock;
	ctl.keysize = sizeof(MemberKey);
	ctl.entrysize = sizeof(Member);
	mq_consumer_group_members = mq_shmem_init_hash("mq stream consumers",
												   mq_max_stream_consumers, &ctl,
												   HASH_ELEM | HASH_BLOBS);
	ctl.keysize = sizeof(AssignKey);
	ctl.entrysize = sizeof(Assignment);
	mq_consumer_group_assignments = mq_shmem_init_hash("mq group partitions",
													   mq_max_group_partitions, &ctl,
													   HASH_ELEM | HASH_BLOBS);
	member_roles = mq_quota_shmem_init("mq stream consumers per role",
									   mq_max_stream_consumers);
	assignment_roles = mq_quota_shmem_init("mq group partitions per role",
										   mq_max_group_partitions);
}

void
mq_assignment_key(AssignKey *key, int32 group_id, int32 partition)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->group_id = group_id;
	key->partition = partition;
}

void
mq_fence_locktag(LOCKTAG *tag, int32 group_id, int32 partition)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) group_id,
						 (uint32) partition, MQ_LOCKTAG_PARTITION);
}

/* forget the shared state of a group */
static void
forget_consumer_group(int32 group_id)
{
	HASH_SEQ_STATUS status;
	Member	   *m;
	Assignment *a;

	LWLockAcquire(mq_consumer_group_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, mq_consumer_group_members);
	while ((m = hash_seq_search(&status)) != NULL)
		if (m->key.dbid == MyDatabaseId && m->key.group_id == group_id)
			mq_consumer_member_remove(m);
	hash_seq_init(&status, mq_consumer_group_assignments);
	while ((a = hash_seq_search(&status)) != NULL)
		if (a->key.dbid == MyDatabaseId && a->key.group_id == group_id)
		{
			mq_quota_add(assignment_roles, a->role, -1);
			hash_search(mq_consumer_group_assignments, &a->key, HASH_REMOVE, NULL);
		}
	LWLockRelease(mq_consumer_group_shared->lock);
}

/* a member leaves shared memory (the lock is held exclusively) */
void
mq_consumer_member_remove(Member *m)
{
	mq_quota_add(member_roles, m->role, -1);
	hash_search(mq_consumer_group_members, &m->key, HASH_REMOVE, NULL);
}

/*
 * Members whose session timed out, in any group, leave (their partitions
 * go to others at their group's next poll)
 */
static void
purge_timed_out(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	Member	   *m;

	hash_seq_init(&status, mq_consumer_group_members);
	while ((m = hash_seq_search(&status)) != NULL)
		if (m->last_poll + m->timeout < now)
			mq_consumer_member_remove(m);
}

/* list a consumer's join, to undo if its transaction rolls back */
static void
note_join(MemberKey *key, TimestampTz now)
{
	JoinUndo   *j = MemoryContextAlloc(TopMemoryContext, sizeof(JoinUndo));
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	j->key = *key;
	j->last_poll = now;
	j->level = GetCurrentTransactionNestLevel();
	joins = lappend(joins, j);
	MemoryContextSwitchTo(old);
}

/* a member's heartbeat: a join of this transaction is undone only as of it */
void
mq_consumer_member_polled(MemberKey *key, TimestampTz now)
{
	ListCell   *lc;

	foreach(lc, joins)
	{
		JoinUndo   *j = (JoinUndo *) lfirst(lc);

		if (memcmp(&j->key, key, sizeof(MemberKey)) == 0)
			j->last_poll = now;
	}
}

/* a rolled-back join: the member leaves unless it polled again since */
static void
undo_join(JoinUndo *j)
{
	Member	   *m = hash_search(mq_consumer_group_members, &j->key, HASH_FIND, NULL);

	if (m != NULL && m->last_poll == j->last_poll)
		mq_consumer_member_remove(m);
}

/*
 * A new member, charged to the current user: an error when the user holds
 * mq.max_stream_consumers_per_role or the table is full (after members
 * that timed out left).  Called with the lock held exclusively; it is
 * released before an error.
 */
Member *
mq_consumer_member_join(MemberKey *key, TimestampTz now)
{
	Oid			role = GetUserId();
	int			limit = mq_quota_limit(mq_max_stream_consumers_per_role,
									   mq_max_stream_consumers);
	Member	   *m = NULL;
	bool		found;

	if (mq_quota_count(member_roles, role) >= limit ||
		hash_get_num_entries(mq_consumer_group_members) >= mq_max_stream_consumers)
		purge_timed_out(now);
	if (hash_get_num_entries(mq_consumer_group_members) < mq_max_stream_consumers &&
		mq_quota_count(member_roles, role) >= limit)
	{
		LWLockRelease(mq_consumer_group_shared->lock);
		mq_quota_exceeded(role, "stream consumers",
						  "mq.max_stream_consumers_per_role", limit,
						  "Use fewer consumer names, give idle ones a shorter session_timeout, or raise mq.max_stream_consumers_per_role.");
	}
	if (hash_get_num_entries(mq_consumer_group_members) < mq_max_stream_consumers)
		m = hash_search(mq_consumer_group_members, key, HASH_ENTER_NULL, &found);
	if (m == NULL)
	{
		LWLockRelease(mq_consumer_group_shared->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many stream consumers (mq.max_stream_consumers is %d)",
						mq_max_stream_consumers),
				 errhint("Raise mq.max_stream_consumers and restart the server, or use fewer consumer names.")));
	}
	m->role = role;
	mq_quota_add(member_roles, role, 1);
	m->last_poll = now;
	note_join(key, now);
	return m;
}

/* put a poll's fetch position back, if nothing moved it since */
static void
undo_poll(PollUndo *u)
{
	Assignment *a;

	a = hash_search(mq_consumer_group_assignments, &u->key, HASH_FIND, NULL);
	if (a != NULL && a->generation == u->generation && a->fetch == u->new_fetch)
		a->fetch = u->old_fetch;
}

/* forget the groups this transaction made (at abort) or dropped (commit) */
static void
forget_groups(bool made, int level)
{
	ListCell   *lc;

	foreach(lc, groups)
	{
		GroupNote  *g = (GroupNote *) lfirst(lc);

		if (g->made == made && g->level >= level)
			forget_consumer_group(g->group_id);
	}
}

/* undo the polls and joins of nesting level >= level (the lock is held) */
static void
undo_from(int level)
{
	int			i;

	for (i = list_length(undo) - 1; i >= 0; i--)
	{
		PollUndo   *u = (PollUndo *) list_nth(undo, i);

		if (u->level >= level)
			undo_poll(u);
	}
	for (i = list_length(joins) - 1; i >= 0; i--)
	{
		JoinUndo   *j = (JoinUndo *) list_nth(joins, i);

		if (j->level >= level)
			undo_join(j);
	}
}

static void
consumer_group_xact_callback(XactEvent event, void *arg)
{
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
			forget_groups(false, 0);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (mq_consumer_group_shared == NULL)
				break;
			if (undo != NIL || joins != NIL)
			{
				LWLockAcquire(mq_consumer_group_shared->lock, LW_EXCLUSIVE);
				undo_from(0);
				LWLockRelease(mq_consumer_group_shared->lock);
			}
			forget_groups(true, 0);
			break;
		default:
			return;
	}
	list_free_deep(undo);
	undo = NIL;
	list_free_deep(joins);
	joins = NIL;
	list_free_deep(groups);
	groups = NIL;
}

/* the level of each note of a released savepoint moves up */
#define MOVE_UP(type, list, level) \
	do { \
		ListCell   *lc_; \
		foreach(lc_, (list)) \
			if (((type *) lfirst(lc_))->level >= (level)) \
				((type *) lfirst(lc_))->level = (level) - 1; \
	} while (0)

/* drop the notes of a rolled-back savepoint */
#define DROP_FROM(type, list, level) \
	do { \
		ListCell   *lc_; \
		foreach(lc_, (list)) \
			if (((type *) lfirst(lc_))->level >= (level)) \
			{ \
				pfree(lfirst(lc_)); \
				(list) = foreach_delete_current((list), lc_); \
			} \
	} while (0)

static void
consumer_group_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		MOVE_UP(PollUndo, undo, level);
		MOVE_UP(JoinUndo, joins, level);
		MOVE_UP(GroupNote, groups, level);
		return;
	}
	if (event != SUBXACT_EVENT_ABORT_SUB || mq_consumer_group_shared == NULL)
		return;
	if (undo != NIL || joins != NIL)
	{
		LWLockAcquire(mq_consumer_group_shared->lock, LW_EXCLUSIVE);
		undo_from(level);
		LWLockRelease(mq_consumer_group_shared->lock);
	}
	forget_groups(true, level);
	DROP_FROM(PollUndo, undo, level);
	DROP_FROM(JoinUndo, joins, level);
	DROP_FROM(GroupNote, groups, level);
}

void
mq_consumer_group_register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(consumer_group_xact_callback, NULL);
	RegisterSubXactCallback(consumer_group_subxact_callback, NULL);
	callbacks_registered = true;
}

static SPIPlanPtr consumer_group_plan = NULL;
static SPIPlanPtr epochs_plan = NULL;

static void
find_consumer_group(text *stream, text *group, ConsumerGroup *g, bool checked)
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
	if (consumer_group_plan == NULL)
		consumer_group_plan = mq_keep_plan("SELECT group_id FROM mq._stream_group"
										   " WHERE stream_id OPERATOR(pg_catalog.=) $1"
										   " AND group_name OPERATOR(pg_catalog.=) $2",
										   2, argtypes);
	if (mq_execute_plan_as_owner(consumer_group_plan, args, NULL, 1) != SPI_OK_SELECT)
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
void
mq_consumer_group_lookup(text *stream, text *group, ConsumerGroup *g)
{
	find_consumer_group(stream, group, g, true);
}

/* the same without the privilege check (for what any role may see) */
void
mq_consumer_group_find(text *stream, text *group, ConsumerGroup *g)
{
	find_consumer_group(stream, group, g, false);
}

void
mq_consumer_group_too_many_partitions(void)
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
void
mq_consumer_group_ensure(ConsumerGroup *g)
{
	AssignKey	key;
	int64	   *epochs;
	int32		p;
	bool		missing = false;
	uint64		i;
	Oid			role = GetUserId();
	int			limit = mq_quota_limit(mq_max_group_partitions_per_role,
									   mq_max_group_partitions);

	LWLockAcquire(mq_consumer_group_shared->lock, LW_SHARED);
	for (p = 0; p < g->s.partitions && !missing; p++)
	{
		mq_assignment_key(&key, g->id, p);
		missing = hash_search(mq_consumer_group_assignments, &key,
							  HASH_FIND, NULL) == NULL;
	}
	LWLockRelease(mq_consumer_group_shared->lock);
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

	LWLockAcquire(mq_consumer_group_shared->lock, LW_EXCLUSIVE);
	for (p = 0; p < g->s.partitions; p++)
	{
		Assignment *a;
		bool		found;

		mq_assignment_key(&key, g->id, p);
		a = hash_search(mq_consumer_group_assignments, &key, HASH_FIND, NULL);
		if (a != NULL)
			continue;
		if (hash_get_num_entries(mq_consumer_group_assignments) < mq_max_group_partitions &&
			mq_quota_count(assignment_roles, role) >= limit)
		{
			LWLockRelease(mq_consumer_group_shared->lock);
			mq_quota_exceeded(role, "consumer group partitions in shared memory",
							  "mq.max_group_partitions_per_role", limit,
							  "Drop consumer groups the role no longer uses, or raise mq.max_group_partitions_per_role.");
		}
		if (hash_get_num_entries(mq_consumer_group_assignments) >= mq_max_group_partitions ||
			(a = hash_search(mq_consumer_group_assignments, &key,
							 HASH_ENTER_NULL, &found)) == NULL)
		{
			LWLockRelease(mq_consumer_group_shared->lock);
			mq_consumer_group_too_many_partitions();
		}
		a->role = role;
		mq_quota_add(assignment_roles, role, 1);
		a->holder[0] = '\0';
		a->generation = 0;
		a->epoch = epochs[p];
		a->start = -1;
		a->fetch = -1;
	}
	LWLockRelease(mq_consumer_group_shared->lock);
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
void
mq_consumer_arguments(FunctionCallInfo fcinfo, char *consumer)
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

/* list a poll's move of a fetch position, to undo if it rolls back */
void
mq_consumer_group_note_poll(AssignKey *key, uint64 generation, int64 old_fetch,
							int64 new_fetch)
{
	PollUndo   *u = MemoryContextAlloc(TopMemoryContext, sizeof(PollUndo));
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	u->key = *key;
	u->generation = generation;
	u->old_fetch = old_fetch;
	u->new_fetch = new_fetch;
	u->level = GetCurrentTransactionNestLevel();
	undo = lappend(undo, u);
	MemoryContextSwitchTo(old);
}

static void
note_group(int32 group_id, bool made)
{
	GroupNote  *g;
	MemoryContext old;

	mq_consumer_group_register_callbacks();
	g = MemoryContextAlloc(TopMemoryContext, sizeof(GroupNote));
	g->group_id = group_id;
	g->made = made;
	g->level = GetCurrentTransactionNestLevel();
	old = MemoryContextSwitchTo(TopMemoryContext);
	groups = lappend(groups, g);
	MemoryContextSwitchTo(old);
}

/* mq._group_forget(group_id int): forget a dropped group when the drop commits */
Datum
mq_group_forget(PG_FUNCTION_ARGS)
{
	if (mq_consumer_group_shared != NULL)
		note_group(PG_GETARG_INT32(0), false);
	PG_RETURN_VOID();
}

/* mq._group_made(group_id int): forget a new group if its creation rolls back */
Datum
mq_group_made(PG_FUNCTION_ARGS)
{
	if (mq_consumer_group_shared != NULL)
		note_group(PG_GETARG_INT32(0), true);
	PG_RETURN_VOID();
}

/* the consumers each role registered, for mq.shared_memory_usage() */
int
mq_consumer_role_counts(MqRoleCount **out)
{
	return mq_quota_copy(member_roles, mq_consumer_group_shared != NULL ? mq_consumer_group_shared->lock : NULL, out);
}

/* the (group, partition) pairs each role's polls brought in */
int
mq_group_partition_role_counts(MqRoleCount **out)
{
	return mq_quota_copy(assignment_roles, mq_consumer_group_shared != NULL ? mq_consumer_group_shared->lock : NULL, out);
}

/*
 * Forget the members and partitions of database dbid's consumer groups: its
 * mq extension was just created (group ids start again at 1) or dropped, or
 * the database was dropped (mq.c).  Their roles get their share back.
 */
void
mq_consumer_group_forget_database(Oid dbid)
{
	HASH_SEQ_STATUS status;
	Member	   *m;
	Assignment *a;

	if (mq_consumer_group_shared == NULL)
		return;
	LWLockAcquire(mq_consumer_group_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, mq_consumer_group_members);
	while ((m = hash_seq_search(&status)) != NULL)
		if (m->key.dbid == dbid)
			mq_consumer_member_remove(m);
	hash_seq_init(&status, mq_consumer_group_assignments);
	while ((a = hash_seq_search(&status)) != NULL)
		if (a->key.dbid == dbid)
		{
			mq_quota_add(assignment_roles, a->role, -1);
			hash_search(mq_consumer_group_assignments, &a->key, HASH_REMOVE, NULL);
		}
	LWLockRelease(mq_consumer_group_shared->lock);
}
