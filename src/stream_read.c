/*-------------------------------------------------------------------------
 *
 * stream_read.c
 *	  Streams: reads.  mq.read_stream (replay from any position), the read
 *	  of a partition that mq.poll shares, and a partition's end and start
 *	  (mq.stream_end, mq.stream_start).  See src/README.md ("Streams").
 *
 * A read takes the partition's readable end first (stream_position.c) and
 * its snapshot after: every SPI statement takes a new one, which is why a
 * read refuses REPEATABLE READ and SERIALIZABLE.  It then reads the kept
 * segments as the catalog has them now (the segment an append before the
 * end wrote into is among them), locks each (AccessShareLock) and checks
 * that it is still there, reads each segment's first max records after its
 * position and merges them: an append that looked the stream up just
 * before a new segment opened puts its records in the old one.  It returns
 * nothing at or past the end, so never N + 1 while the append that holds N
 * can still commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/tuplestore.h"

#include "args.h"
#include "privilege.h"
#include "spi.h"
#include "stream_int.h"

PG_FUNCTION_INFO_V1(mq_read_stream);
PG_FUNCTION_INFO_V1(mq_stream_end);
PG_FUNCTION_INFO_V1(mq_stream_start);

/* mq.read_stream(stream, partition, from_position, max) returns setof mq.stream_record */
Datum
mq_read_stream(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqStream	s;
	int32		partition;
	int64		from;
	int64		max = PG_ARGISNULL(3) ? 100 : PG_GETARG_INT32(3);
	int64		end;

	if (PG_ARGISNULL(0))
		mq_null_argument("stream name");
	if (PG_ARGISNULL(1))
		mq_null_argument("partition");
	if (PG_ARGISNULL(2))
		mq_null_argument("from_position");
	mq_check_count(max, "max");
	partition = PG_GETARG_INT32(1);
	from = PG_GETARG_INT64(2);
	mq_stream_require_read_committed("mq.read_stream()");
	mq_stream_lookup(PG_GETARG_TEXT_PP(0), &s, MQ_PRIV_READ);
	mq_stream_check_partition(&s, partition);
	if (from < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_position must not be negative"),
				 errhint("Positions start at 0.")));

	/* the end first, then the snapshot (each SPI statement takes a new one) */
	end = mq_stream_readable_end(&s, partition);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	(void) mq_stream_read(&s, partition, from, end, max, rsinfo->setResult,
						  rsinfo->setDesc, NULL);
	return (Datum) 0;
}

/* a record of a read, kept until the read has all its segments' records */
typedef struct ReadRow
{
	int64		position;
	HeapTuple	tuple;
	TupleDesc	desc;
} ReadRow;

static int
cmp_read_rows(const void *a, const void *b)
{
	int64		pa = ((const ReadRow *) a)->position;
	int64		pb = ((const ReadRow *) b)->position;

	return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/*
 * Put up to max records of a partition, from position from up to (not
 * including) end, into ts; returns how many, and in *last (if not NULL) the
 * position of the last one.  Run it in READ COMMITTED after taking end: the
 * statement's snapshot is newer than the end.
 */
uint64
mq_stream_read(MqStream *s, int32 partition, int64 from, int64 end, int64 max,
			   Tuplestorestate *ts, TupleDesc desc, int64 *last)
{
	Datum		values[4];
	uint64		n = 0;
	uint64		i;
	ReadRow    *rows = NULL;
	uint64		nrows = 0;
	int32		seg;

	if (from >= end)
		return 0;
	values[0] = Int32GetDatum(partition);
	values[1] = Int64GetDatum(from);
	values[2] = Int64GetDatum(end);
	values[3] = Int64GetDatum(max);
	mq_spi_connect();
	mq_stream_refresh_segments(s);

	/*
	 * Each segment's first max records after from; the records of a
	 * partition are mostly in one segment, but an append that looked the
	 * stream up just before the worker opened a new segment puts its
	 * records in the old one, so the segments' records are merged.
	 */
	for (seg = s->first_segment; seg <= s->segment; seg++)
	{
		uint64		k;

		if (!mq_stream_lock_segment(s, seg))
			continue;
		if (mq_execute_plan_as_owner(mq_stream_segment_plan(s, seg, STREAM_PLAN_READ, NULL),
									 values, NULL, 0) != SPI_OK_SELECT)
			elog(ERROR, "stream read failed");
		if (SPI_processed == 0)
			continue;
		rows = rows == NULL ? palloc(sizeof(ReadRow) * SPI_processed) :
			repalloc(rows, sizeof(ReadRow) * (nrows + SPI_processed));
		for (k = 0; k < SPI_processed; k++)
		{
			bool		isnull;

			rows[nrows].tuple = SPI_tuptable->vals[k];
			rows[nrows].desc = SPI_tuptable->tupdesc;
			rows[nrows].position = DatumGetInt64(SPI_getbinval(rows[nrows].tuple,
															   rows[nrows].desc, 2, &isnull));
			nrows++;
		}
	}
	if (nrows > 1 && s->first_segment < s->segment)
		qsort(rows, nrows, sizeof(ReadRow), cmp_read_rows);

	for (i = 0; i < nrows && (int64) i < max; i++)
	{
		Datum		out[Natts_mq_stream_record];
		bool		nulls[Natts_mq_stream_record];
		int			c;

		/*
		 * As many columns as the result has: mq.stream_record before the
		 * update to 0.8.0 has six, and a segment table not yet updated has
		 * no payload or properties (NULL, as for the records from before).
		 */
		for (c = 0; c < desc->natts && c < Natts_mq_stream_record; c++)
		{
			nulls[c] = true;
			if (c >= rows[i].desc->natts)
				continue;
			out[c] = SPI_getbinval(rows[i].tuple, rows[i].desc, c + 1, &nulls[c]);
			/* no toast pointers leave the call */
			if (!nulls[c] && TupleDescAttr(desc, c)->attlen == -1)
				out[c] = PointerGetDatum(PG_DETOAST_DATUM_COPY(out[c]));
		}
		/* the tuple store copies the values */
		tuplestore_putvalues(ts, desc, out, nulls);
		if (last != NULL)
			*last = rows[i].position;
		n++;
	}
	SPI_finish();
	return n;
}

/* a stream read needs a new snapshot for each statement */
void
mq_stream_require_read_committed(const char *fn)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot run in a REPEATABLE READ or SERIALIZABLE transaction", fn),
				 errdetail("Its snapshot may be older than the end it reads up to, and it would pass records."),
				 errhint("Read streams in READ COMMITTED transactions.")));
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
	if (!mq_stream_shmem_available() || RecoveryInProgress())
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
	if (!mq_stream_shmem_available() || RecoveryInProgress())
		end = mq_stream_stored_next(&s, partition);
	else
		end = mq_stream_readable_end(&s, partition);
	PG_RETURN_INT64(mq_stream_earliest(&s, partition, end));
}
