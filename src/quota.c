/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  Per-role counts of mq's bounded tables in shared memory.  See
 *	  doc/security.md ("Sharing a server") and src/README.md ("Quotas").
 *
 * Rate buckets (queue_limit.c), stream partitions (stream_position.c),
 * consumers and (group, partition) pairs (stream_group.c) live in
 * fixed-size shared hash tables, one set per cluster.  Without a bound per
 * role any role that may create a queue or a stream fills them for every
 * other role of every database.  So each entry notes the role it is
 * charged to, and beside each table a second hash, under the same lock,
 * counts the entries per role; a role at its limit (mq.*_per_role, by
 * default a quarter of the table) gets no more.  A role with an entry has
 * a count, so a count table as large as its table never runs out of room.
 *
 * This file only keeps counts: each table's owner decides whom an entry is
 * charged to, what happens at the limit, and gives the count back when it
 * removes the entry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/shmem.h"

#include "compat.h"
#include "quota.h"

Size
mq_quota_shmem_size(int capacity)
{
	return hash_estimate_size(capacity, sizeof(MqRoleCount));
}

HTAB *
mq_quota_shmem_init(const char *name, int capacity)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(MqRoleCount);
	return mq_shmem_init_hash(name, capacity, &ctl, HASH_ELEM | HASH_BLOBS);
}

int
mq_quota_limit(int setting, int capacity)
{
	if (setting >= 0)
		return setting;
	return Max(capacity / 4, 1);
}

int
mq_quota_count(HTAB *counts, Oid role)
{
	MqRoleCount *rc = hash_search(counts, &role, HASH_FIND, NULL);

	return rc == NULL ? 0 : rc->count;
}

void
mq_quota_add(HTAB *counts, Oid role, int delta)
{
	MqRoleCount *rc;
	bool		found;

	if (delta > 0)
	{
		rc = hash_search(counts, &role, HASH_ENTER_NULL, &found);
		if (rc == NULL)
			return;				/* cannot happen: sized as the table */
		if (!found)
			rc->count = 0;
		rc->count += delta;
		return;
	}
	rc = hash_search(counts, &role, HASH_FIND, NULL);
	if (rc == NULL)
		return;
	rc->count += delta;
	if (rc->count <= 0)
		hash_search(counts, &role, HASH_REMOVE, NULL);
}

/* the role that holds the most entries (InvalidOid if none), and how many */
Oid
mq_quota_largest(HTAB *counts, int *count)
{
	HASH_SEQ_STATUS status;
	MqRoleCount *rc;
	Oid			role = InvalidOid;

	*count = 0;
	hash_seq_init(&status, counts);
	while ((rc = hash_seq_search(&status)) != NULL)
		if (rc->count > *count)
		{
			*count = rc->count;
			role = rc->role;
		}
	return role;
}

/*
 * A palloc'd copy of the counts, read under lock (the LWLock of the table
 * they count) in share mode; returns how many roles.  Without shared
 * memory (counts is NULL) there are none.
 */
int
mq_quota_copy(HTAB *counts, LWLock *lock, MqRoleCount **out)
{
	HASH_SEQ_STATUS status;
	MqRoleCount *rc;
	int			n = 0;
	int			max;

	*out = NULL;
	if (counts == NULL)
		return 0;
	LWLockAcquire(lock, LW_SHARED);
	max = Max(hash_get_num_entries(counts), 1);
	*out = palloc(sizeof(MqRoleCount) * max);
	hash_seq_init(&status, counts);
	while ((rc = hash_seq_search(&status)) != NULL)
	{
		if (n == max)
		{
			hash_seq_term(&status);
			break;
		}
		(*out)[n++] = *rc;
	}
	LWLockRelease(lock);
	return n;
}

void
mq_quota_exceeded(Oid role, const char *what, const char *setting, int limit,
				  const char *hint)
{
	const char *name = GetUserNameFromId(role, true);
	char		oidname[16];

	if (name == NULL)
	{
		snprintf(oidname, sizeof(oidname), "%u", role);
		name = oidname;
	}
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("role \"%s\" holds too many %s (%s is %d)",
					name, what, setting, limit),
			 errhint("%s", hint)));
}
