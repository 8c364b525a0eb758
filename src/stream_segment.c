/*-------------------------------------------------------------------------
 *
 * stream_segment.c
 *	  Streams: segment tables.  The statements kept per segment, the kept
 *	  segments as the catalog has them now, the lock a reader holds on a
 *	  segment, and the first and last positions a partition has stored.
 *	  See src/README.md ("Streams", "Segments").
 *
 * A stream's records live in tables mq.s_<stream>_<segment>, one segment
 * for all partitions over a span of time, listed in mq._stream_segment;
 * the kept segments are contiguous.  Appends go to the newest segment the
 * look-up found.  The worker (mq._maintain_streams()) opens the next one
 * and drops the oldest with DROP TABLE under a lock it takes without
 * waiting, so a reader locks each segment (AccessShareLock) and checks
 * that it is still there before it reads it.  No record row is ever
 * updated or deleted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "spi.h"
#include "stream_int.h"

static HTAB *segment_plans = NULL;
static SPIPlanPtr segments_plan = NULL;

/* the backend's entry of one segment of the stream: its plans and table */
SegmentPlans *
mq_stream_segment_entry(MqStream *s, int32 segment)
{
	int32		key[2] = {s->id, segment};
	SegmentPlans *sp;
	bool		found;

	if (segment_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(SegmentPlans);
		ctl.hcxt = TopMemoryContext;
		segment_plans = hash_create("mq stream plans", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	sp = hash_search(segment_plans, key, HASH_ENTER, &found);
	if (!found)
	{
		memset(sp->plans, 0, sizeof(sp->plans));
		sp->natts = 0;
		sp->relid = InvalidOid;
	}
	return sp;
}

/*
 * The record columns of a segment table as it is now: a table made before
 * 0.8.0 that the update has not yet altered has no payload or properties
 * (a table not there at all gets the statements of a new one, which then
 * say that it does not exist).
 */
static int
segment_natts(MqStream *s, int32 segment)
{
	char		relname[NAMEDATALEN];
	Oid			relid;

	snprintf(relname, sizeof(relname), "s_%d_%d", s->id, segment);
	relid = get_relname_relid(relname, get_namespace_oid("mq", false));
	if (OidIsValid(relid) && get_attnum(relid, "sent_by") == InvalidAttrNumber)
		return Natts_mq_stream_record_v07;
	return Natts_mq_stream_record;
}

/* the columns of a record, as statements name them */
#define RECORD_COLUMNS_V07 "partition, position, key, headers, body, appended_at"
#define RECORD_COLUMNS RECORD_COLUMNS_V07 \
	", payload, content_type, content_encoding, correlation_id, reply_to, sent_by"

static SPIPlanPtr
make_insert_one_plan(MqStream *s, int32 segment, int natts)
{
	Oid			argtypes[Natts_mq_stream_record] = {INT4OID, INT8OID, TEXTOID, JSONBOID,
		JSONBOID, TIMESTAMPTZOID, BYTEAOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};

	if (natts == Natts_mq_stream_record_v07)
		return mq_keep_plan(psprintf("INSERT INTO mq.s_%d_%d (" RECORD_COLUMNS_V07 ")"
									 " VALUES ($1, $2, $3, $4, $5, $6)", s->id, segment),
							natts, argtypes);
	return mq_keep_plan(psprintf("INSERT INTO mq.s_%d_%d (" RECORD_COLUMNS ")"
								 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
								 s->id, segment), natts, argtypes);
}

/* a batch: one array per column but appended_at ($6), unnested together */
static SPIPlanPtr
make_insert_plan(MqStream *s, int32 segment, int natts)
{
	Oid			argtypes[Natts_mq_stream_record] = {INT4ARRAYOID, INT8ARRAYOID,
		TEXTARRAYOID, JSONBARRAYOID, JSONBARRAYOID, TIMESTAMPTZOID, BYTEAARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};

	if (natts == Natts_mq_stream_record_v07)
		return mq_keep_plan(psprintf(
			"INSERT INTO mq.s_%d_%d (" RECORD_COLUMNS_V07 ")"
			" SELECT u.p, u.q, u.k, u.h, u.b, $6 FROM ROWS FROM"
			" (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
			" pg_catalog.unnest($4), pg_catalog.unnest($5)) AS u(p, q, k, h, b)",
			s->id, segment), natts, argtypes);
	return mq_keep_plan(psprintf(
		"INSERT INTO mq.s_%d_%d (" RECORD_COLUMNS ")"
		" SELECT u.p, u.q, u.k, u.h, u.b, $6, u.pl, u.ct, u.ce, u.ci, u.rt, u.sb"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
		" pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
		" pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9),"
		" pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12))"
		" AS u(p, q, k, h, b, pl, ct, ce, ci, rt, sb)",
		s->id, segment), natts, argtypes);
}

static SPIPlanPtr
make_read_plan(MqStream *s, int32 segment, int natts)
{
	Oid			argtypes[4] = {INT4OID, INT8OID, INT8OID, INT8OID};

	return mq_keep_plan(psprintf(
		"SELECT %s FROM mq.s_%d_%d WHERE partition OPERATOR(pg_catalog.=) $1"
		" AND position OPERATOR(pg_catalog.>=) $2"
		" AND position OPERATOR(pg_catalog.<) $3"
		" ORDER BY position LIMIT $4",
		natts == Natts_mq_stream_record_v07 ? RECORD_COLUMNS_V07 : RECORD_COLUMNS,
		s->id, segment), 4, argtypes);
}

/*
 * The kept plan of a statement on one segment of the stream (in SPI), for
 * the table's columns as they are now: the update to 0.8.0 adds columns to
 * the tables that a backend may have made plans for already.
 */
SPIPlanPtr
mq_stream_segment_plan(MqStream *s, int32 segment, StreamPlanKind kind,
					   int *natts)
{
	SegmentPlans *sp = mq_stream_segment_entry(s, segment);
	int			now_natts = segment_natts(s, segment);

	if (sp->natts != now_natts)
	{
		int			k;

		for (k = 0; k < STREAM_NUM_PLANS; k++)
		{
			if (sp->plans[k] != NULL)
				SPI_freeplan(sp->plans[k]);
			sp->plans[k] = NULL;
		}
		sp->natts = now_natts;
	}
	if (sp->plans[kind] == NULL)
	{
		if (kind == STREAM_PLAN_INSERT_ONE)
			sp->plans[kind] = make_insert_one_plan(s, segment, sp->natts);
		else if (kind == STREAM_PLAN_INSERT)
			sp->plans[kind] = make_insert_plan(s, segment, sp->natts);
		else
			sp->plans[kind] = make_read_plan(s, segment, sp->natts);
	}
	if (natts != NULL)
		*natts = sp->natts;
	return sp->plans[kind];
}

/*
 * The stream's segments as the catalog has them now (in SPI).  A reader
 * calls it after taking the readable end: every append before the end has
 * committed, and so has the opening of the segment it wrote into, which a
 * new snapshot therefore sees -- the backend's cache may not yet.
 */
void
mq_stream_refresh_segments(MqStream *s)
{
	Oid			argtype = INT4OID;
	Datum		arg = Int32GetDatum(s->id);
	bool		isnull;
	int32		first,
				last;

	if (segments_plan == NULL)
		segments_plan = mq_keep_plan("SELECT pg_catalog.min(segment), pg_catalog.max(segment)"
									 " FROM mq._stream_segment"
									 " WHERE stream_id OPERATOR(pg_catalog.=) $1",
									 1, &argtype);
	if (mq_execute_plan_as_owner(segments_plan, &arg, NULL, 1) != SPI_OK_SELECT)
		elog(ERROR, "stream segment look-up failed");
	first = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		return;
	last = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	s->first_segment = first;
	s->segment = last;
}

/*
 * Lock a segment table for reading, if it is still there: the worker drops
 * old segments under a lock it takes without waiting, so a segment that a
 * reader has locked stays until the reader's transaction ends.
 */
bool
mq_stream_lock_segment(MqStream *s, int32 segment)
{
	char		relname[NAMEDATALEN];
	Oid			relid;

	snprintf(relname, sizeof(relname), "s_%d_%d", s->id, segment);
	relid = get_relname_relid(relname, get_namespace_oid("mq", false));
	if (!OidIsValid(relid))
		return false;
	LockRelationOid(relid, AccessShareLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
	{
		/* dropped while we waited */
		UnlockRelationOid(relid, AccessShareLock);
		return false;
	}
	return true;
}

/*
 * The greatest (max) or least (min) position of a partition over the
 * stream's segments; has_value false when none has a record of it.
 */
static int64
segments_aggregate(MqStream *s, int32 partition, bool max, bool *has_value)
{
	Oid			argtype = INT4OID;
	Datum		arg = Int32GetDatum(partition);
	int64		result = 0;
	int32		seg;

	*has_value = false;
	mq_spi_connect();
	mq_stream_refresh_segments(s);
	for (seg = s->first_segment; seg <= s->segment; seg++)
	{
		bool		isnull;
		int64		v;

		if (!mq_stream_lock_segment(s, seg))
			continue;
		if (mq_execute_latest_as_owner(psprintf("SELECT pg_catalog.%s(position) FROM mq.s_%d_%d"
												" WHERE partition OPERATOR(pg_catalog.=) $1",
												max ? "max" : "min", s->id, seg),
									   1, &argtype, &arg) != SPI_OK_SELECT)
			elog(ERROR, "stream position look-up failed");
		v = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										1, &isnull));
		if (isnull)
			continue;
		if (!*has_value || (max ? v > result : v < result))
			result = v;
		*has_value = true;
	}
	SPI_finish();
	return result;
}

/* the next position of a partition, from its table (on first use) */
int64
mq_stream_stored_next(MqStream *s, int32 partition)
{
	bool		found;
	int64		last = segments_aggregate(s, partition, true, &found);

	return found ? last + 1 : 0;
}

/* the first position of a partition that retention has kept (its end if none) */
int64
mq_stream_earliest(MqStream *s, int32 partition, int64 end)
{
	bool		found;
	int64		first = segments_aggregate(s, partition, false, &found);

	return found ? Min(first, end) : end;
}
