/*-------------------------------------------------------------------------
 *
 * stream_rebalance.c
 *	  Streams: consumer group membership.  A poll's heartbeat and the
 *	  rebalance of the group's partitions over its live members.  See
 *	  src/README.md ("Streams").
 *
 * Every poll is a heartbeat of its consumer; it drops members whose
 * session timed out and rebalances: the live members, sorted by name, each
 * get floor or ceil of P / C partitions, and a partition keeps its holder
 * whenever that holder is still under its share (so a join or a leave
 * moves only what it must).  A change of holder raises the partition's
 * generation and forgets its start and fetch positions: the new holder
 * starts at the committed position (stream_poll.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/hsearch.h"

#include "guc.h"
#include "stream_int.h"

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
	hash_seq_init(&status, mq_consumer_group_members);
	while ((m = hash_seq_search(&status)) != NULL)
	{
		if (m->key.dbid != MyDatabaseId || m->key.group_id != g->id)
			continue;
		if (m->last_poll + m->timeout < now)
		{
			mq_consumer_member_remove(m);
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

		mq_assignment_key(&key, g->id, p);
		a = hash_search(mq_consumer_group_assignments, &key, HASH_FIND, NULL);
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

/*
 * A poll's heartbeat: the consumer is live for timeout from now (it joins
 * the group if it is new), and the group rebalances.  Called with the lock
 * held exclusively.
 */
void
mq_consumer_group_heartbeat(ConsumerGroup *g, const char *consumer,
							int64 timeout, TimestampTz now)
{
	MemberKey	mkey;
	Member	   *m;

	memset(&mkey, 0, sizeof(mkey));
	mkey.dbid = MyDatabaseId;
	mkey.group_id = g->id;
	memcpy(mkey.consumer, consumer, sizeof(mkey.consumer));
	m = hash_search(mq_consumer_group_members, &mkey, HASH_FIND, NULL);
	if (m == NULL)
		m = mq_consumer_member_join(&mkey, now);
	else
		mq_consumer_member_polled(&mkey, now);
	m->last_poll = now;
	m->timeout = timeout;
	rebalance(g, now);
}
