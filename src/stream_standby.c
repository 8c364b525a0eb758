/*-------------------------------------------------------------------------
 *
 * stream_standby.c
 *	  Streams: the readable ends the primary's worker writes for standbys.
 *	  See src/README.md ("Streams", "Positions dense in commit order").
 *
 * A standby has no shared memory of the primary's appends in flight, so it
 * cannot compute a readable end.  The primary's worker, woken by the
 * commit or rollback of an append (at most once per mq.notify_interval),
 * computes the readable ends that moved since it last wrote them (one
 * pass over the in-flight slots, stream_position.c) and inserts them into
 * mq._stream_end.  Each end is computed before the
 * insert, so every append before it has ended when the row commits and a
 * standby replays their commits first.  A standby reads up to the greatest
 * end it has replayed (all it has replayed where none was written); a
 * primary never hands out a position below an end it wrote, even after a
 * restart.  mq._maintain_streams() prunes superseded rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"

#include "spi.h"
#include "stream_int.h"

/* a partition's readable end as the worker computes it for standbys */
typedef struct EndEntry
{
	PartKey		key;
	int64		end;
	int64		published;
} EndEntry;

/*
 * The partitions of this database whose readable end moved since the
 * worker last wrote it (palloc'd; *n of them).  One pass over the slots of
 * appends in flight.
 */
static EndEntry *
moved_ends(int *n)
{
	HASH_SEQ_STATUS status;
	PartState  *ps;
	EndEntry   *all;
	int			nall = 0;
	int			max;
	int			i,
				j,
				k;
	EndEntry   *moved;

	*n = 0;
	if (mq_stream_shared == NULL)
		return NULL;
	LWLockAcquire(mq_stream_shared->lock, LW_SHARED);
	max = hash_get_num_entries(mq_stream_parts);
	all = palloc(sizeof(EndEntry) * Max(max, 1));
	hash_seq_init(&status, mq_stream_parts);
	while ((ps = hash_seq_search(&status)) != NULL)
	{
		if (ps->key.dbid != MyDatabaseId || nall >= max)
			continue;
		all[nall].key = ps->key;
		all[nall].end = ps->next;
		all[nall].published = ps->published;
		nall++;
	}
	k = mq_stream_shared->nprocs * MQ_STREAM_INFLIGHT;
	for (i = 0; i < k && nall > 0; i++)
	{
		InFlight   *f = &mq_stream_shared->inflight[i];

		if (f->key.stream_id == 0 || f->key.dbid != MyDatabaseId)
			continue;
		for (j = 0; j < nall; j++)
			if (all[j].key.stream_id == f->key.stream_id &&
				all[j].key.partition == f->key.partition)
			{
				if (f->first < all[j].end)
					all[j].end = f->first;
				break;
			}
	}
	LWLockRelease(mq_stream_shared->lock);
	moved = palloc(sizeof(EndEntry) * Max(nall, 1));
	for (j = 0; j < nall; j++)
		if (all[j].end != all[j].published)
			moved[(*n)++] = all[j];
	pfree(all);
	return moved;
}

/* has a readable end moved since the worker last wrote it? */
bool
mq_stream_ends_moved(void)
{
	int			n;
	EndEntry   *moved = moved_ends(&n);

	if (moved)
		pfree(moved);
	return n > 0;
}

/*
 * For the worker, in a transaction: write the readable ends that moved into
 * mq._stream_end, so that standbys read up to them.  An end is computed
 * before the insert, so every append before it has ended when the row
 * commits, and a standby replays their commits before the row's.
 */
void
mq_stream_publish_ends(void)
{
	int			n;
	EndEntry   *moved = moved_ends(&n);
	Datum	   *sids;
	Datum	   *pids;
	Datum	   *ends;
	Datum		values[3];
	Oid			argtypes[3] = {INT4ARRAYOID, INT4ARRAYOID, INT8ARRAYOID};
	int			i;

	if (n == 0)
		return;
	if (!OidIsValid(get_relname_relid("_stream_end", get_namespace_oid("mq", false))))
		return;
	sids = palloc(sizeof(Datum) * n);
	pids = palloc(sizeof(Datum) * n);
	ends = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		sids[i] = Int32GetDatum(moved[i].key.stream_id);
		pids[i] = Int32GetDatum(moved[i].key.partition);
		ends[i] = Int64GetDatum(moved[i].end);
	}
	values[0] = PointerGetDatum(construct_array(sids, n, INT4OID, 4, true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(pids, n, INT4OID, 4, true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(ends, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	mq_spi_connect();
	/* a stream dropped meanwhile has no row in mq._stream: none for it */
	if (mq_execute_as_owner("INSERT INTO mq._stream_end (stream_id, partition, end_position, published_at)"
							" SELECT u.s, u.p, u.e, pg_catalog.now()"
							" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
							"  pg_catalog.unnest($3)) AS u(s, p, e)"
							" WHERE EXISTS (SELECT 1 FROM mq._stream t"
							"  WHERE t.stream_id OPERATOR(pg_catalog.=) u.s)",
							3, argtypes, values, NULL, 0) != SPI_OK_INSERT)
		elog(ERROR, "stream end publication failed");
	SPI_finish();

	LWLockAcquire(mq_stream_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		PartState  *ps = hash_search(mq_stream_parts, &moved[i].key, HASH_FIND, NULL);

		if (ps != NULL && ps->published < moved[i].end)
			ps->published = moved[i].end;
	}
	LWLockRelease(mq_stream_shared->lock);
}
