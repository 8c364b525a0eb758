/*-------------------------------------------------------------------------
 *
 * quota.h
 *	  What each role holds of mq's bounded tables in shared memory: counts
 *	  per role beside each table, and the limits on them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_QUOTA_H
#define MQ_QUOTA_H

#include "storage/lwlock.h"
#include "utils/hsearch.h"

/* one role's entries of one table */
typedef struct MqRoleCount
{
	Oid			role;
	int32		count;
} MqRoleCount;

/* the counts of a table of capacity entries (a role has at least one) */
extern Size mq_quota_shmem_size(int capacity);
extern HTAB *mq_quota_shmem_init(const char *name, int capacity);

/* a role's limit: setting, or a quarter of capacity when setting is -1 */
extern int	mq_quota_limit(int setting, int capacity);

/* the table's lock must be held (exclusively to change) */
extern int	mq_quota_count(HTAB *counts, Oid role);
extern void mq_quota_add(HTAB *counts, Oid role, int delta);
extern Oid	mq_quota_largest(HTAB *counts, int *count);
extern int	mq_quota_copy(HTAB *counts, LWLock *lock, MqRoleCount **out);

/* errors: role holds its limit of what (setting names the limit) */
extern void mq_quota_exceeded(Oid role, const char *what, const char *setting,
							  int limit, const char *hint);

#endif							/* MQ_QUOTA_H */
