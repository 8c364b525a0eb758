/*-------------------------------------------------------------------------
 *
 * stream_append.c
 *	  Streams: appends.  mq.append, mq.append_batch and
 *	  mq_stream_append_one (for bindings and mq.append_trigger), the
 *	  partition of a record's key, and the insert into the newest segment.
 *	  See src/README.md ("Streams").
 *
 * A record with a key goes to the partition of its key (FNV-1a of the
 * key's bytes modulo the partitions: the documented map that
 * mq.stream_partition() computes); one without a key to the partitions in
 * turn.  An append takes its positions in shared memory
 * (stream_position.c), partition by partition so that each partition's
 * records of one call get consecutive positions, and then inserts them into
 * the newest segment the look-up found.  A single record goes straight in
 * through the table access method and the executor's index insertion, as
 * queue sends do; a segment table with someone else's triggers, or
 * mq.direct_access off, gets the prepared statement, and so does a batch
 * (one INSERT of unnested arrays).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "args.h"
#include "compat.h"
#include "durability.h"
#include "guc.h"
#include "message.h"
#include "privilege.h"
#include "spi.h"
#include "stream_int.h"

PG_FUNCTION_INFO_V1(mq_append);
PG_FUNCTION_INFO_V1(mq_append_batch);
PG_FUNCTION_INFO_V1(mq_stream_partition);

/* FNV-1a, 32 bits, of the key's bytes: the documented key -> partition map */
static int32
key_partition(const char *key, int len, int32 partitions)
{
	uint32		h = 2166136261u;
	int			i;

	for (i = 0; i < len; i++)
	{
		h ^= (unsigned char) key[i];
		h *= 16777619u;
	}
	return (int32) (h % (uint32) partitions);
}

/* a record without a key: partitions in turn, from a place of this backend's */
static int32
no_key_partition(int32 partitions)
{
	static uint32 turn = 0;

	if (turn == 0)
		turn = (uint32) MyProcPid;
	return (int32) (turn++ % (uint32) partitions);
}

/* where a segment keeps the columns of a message (stream_int.h) */
static const MqMessageAttnums record_attnums = {
	Anum_mq_stream_record_body, Anum_mq_stream_record_payload,
	Anum_mq_stream_record_content_type, Anum_mq_stream_record_content_encoding,
	Anum_mq_stream_record_correlation_id, Anum_mq_stream_record_reply_to,
	Anum_mq_stream_record_sent_by, 0
};

/*
 * A record of the segment: all its columns from the message, key, headers
 * and the positions.
 */
static void
record_columns(int32 partition, int64 position, Datum key, bool knull,
			   Datum headers, bool hnull, const MqMessage *m, TimestampTz now,
			   Datum *values, bool *nulls)
{
	mq_message_values(m, &record_attnums, values, nulls);
	values[Anum_mq_stream_record_partition - 1] = Int32GetDatum(partition);
	nulls[Anum_mq_stream_record_partition - 1] = false;
	values[Anum_mq_stream_record_position - 1] = Int64GetDatum(position);
	nulls[Anum_mq_stream_record_position - 1] = false;
	values[Anum_mq_stream_record_key - 1] = key;
	nulls[Anum_mq_stream_record_key - 1] = knull;
	values[Anum_mq_stream_record_headers - 1] = headers;
	nulls[Anum_mq_stream_record_headers - 1] = hnull;
	values[Anum_mq_stream_record_appended_at - 1] = TimestampTzGetDatum(now);
	nulls[Anum_mq_stream_record_appended_at - 1] = false;
}

/*
 * Insert one record straight into the newest segment through the table
 * access method and the executor's index insertion, as queue sends do
 * (queue_insert.c): no plan, no executor start-up.  False when the statement
 * must do it: mq.direct_access is off, the table is not there under its
 * name (a drop; the statement then says what happened), or somebody gave it
 * triggers or another layout (a table from before 0.8.0 included).
 */
static bool
insert_one_direct(MqStream *s, const Datum *values, const bool *nulls)
{
	static const Oid types[Natts_mq_stream_record] = {INT4OID, INT8OID, TEXTOID,
		JSONBOID, JSONBOID, TIMESTAMPTZOID, BYTEAOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID};
	SegmentPlans *sp = mq_stream_segment_entry(s, s->segment);
	char		relname[NAMEDATALEN];
	Relation	rel;
	TupleDesc	desc;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	int			i;

	if (!mq_direct_access)
		return false;
	snprintf(relname, sizeof(relname), "s_%d_%d", s->id, s->segment);
	if (!OidIsValid(sp->relid))
		sp->relid = get_relname_relid(relname, get_namespace_oid("mq", false));
	if (!OidIsValid(sp->relid))
		return false;
	rel = try_table_open(sp->relid, RowExclusiveLock);
	if (rel == NULL)
	{
		sp->relid = InvalidOid;
		return false;
	}
	desc = RelationGetDescr(rel);
	if (strcmp(RelationGetRelationName(rel), relname) != 0 ||
		rel->trigdesc != NULL || desc->natts != Natts_mq_stream_record)
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}
	for (i = 0; i < Natts_mq_stream_record; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != types[i])
		{
			table_close(rel, RowExclusiveLock);
			return false;
		}
	}

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = table_slot_create(rel, NULL);
	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, sizeof(Datum) * Natts_mq_stream_record);
	memcpy(slot->tts_isnull, nulls, sizeof(bool) * Natts_mq_stream_record);
	ExecStoreVirtualTuple(slot);
	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	mq_insert_index_tuples(rri, slot, estate, MQ_INDEX_ALL);
	ExecDropSingleTupleTableSlot(slot);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	/* the lock stays until the transaction ends, as the statement's would */
	table_close(rel, NoLock);
	CommandCounterIncrement();
	return true;
}

/*
 * A segment table from before 0.8.0 (ALTER EXTENSION UPDATE not yet run)
 * has only a record's first columns: it takes JSON records (their
 * properties are not kept) but no payload.
 */
static void
check_old_segment(MqStream *s, int natts, const MqMessage *msgs, int n)
{
	int			i;

	if (natts != Natts_mq_stream_record_v07)
		return;
	for (i = 0; i < n; i++)
		if (msgs[i].payload != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("stream \"%s\" cannot store payloads yet", s->name),
					 errhint("Run ALTER EXTENSION mq UPDATE.")));
}

/* an array of column anum of the records (rows[i * natts + anum - 1]) */
static Datum
column_array(Datum *rows, bool *rownulls, int n, int anum, Oid elmtype,
			 int16 elmlen, bool elmbyval, char elmalign)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	bool	   *nulls = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < n; i++)
	{
		elems[i] = rows[i * Natts_mq_stream_record + anum - 1];
		nulls[i] = rownulls[i * Natts_mq_stream_record + anum - 1];
	}
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, elmtype,
											  elmlen, elmbyval, elmalign));
}

/* insert records: msgs[i] with keys and headers, at the positions given */
static void
insert_records(MqStream *s, int n, int32 *partition, int64 *position,
			   Datum *keys, bool *knulls, Datum *headers, bool *hnulls,
			   const MqMessage *msgs)
{
	TimestampTz now = GetCurrentTimestamp();
	Datum	   *rows = palloc(sizeof(Datum) * Natts_mq_stream_record * n);
	bool	   *rownulls = palloc(sizeof(bool) * Natts_mq_stream_record * n);
	Datum		values[Natts_mq_stream_record];
	char		nulls[Natts_mq_stream_record];
	SPIPlanPtr	plan;
	int			natts;
	int			i;

	for (i = 0; i < n; i++)
		record_columns(partition[i], position[i], keys[i], knulls[i], headers[i],
					   hnulls[i], &msgs[i], now, rows + i * Natts_mq_stream_record,
					   rownulls + i * Natts_mq_stream_record);

	/* one record: a plain insert, no arrays */
	if (n == 1)
	{
		if (insert_one_direct(s, rows, rownulls))
			return;
		for (i = 0; i < Natts_mq_stream_record; i++)
			nulls[i] = rownulls[i] ? 'n' : ' ';
		mq_spi_connect();
		plan = mq_stream_segment_plan(s, s->segment, STREAM_PLAN_INSERT_ONE, &natts);
		check_old_segment(s, natts, msgs, n);
		if (mq_execute_plan_as_owner(plan, rows, nulls, 0) != SPI_OK_INSERT)
			elog(ERROR, "stream append failed");
		SPI_finish();
		return;
	}

	/* a batch: one array per column, appended_at one value */
#define ARRAY_OF(anum, type, len, byval, align) \
	values[(anum) - 1] = column_array(rows, rownulls, n, anum, type, len, byval, align)
	ARRAY_OF(Anum_mq_stream_record_partition, INT4OID, 4, true, TYPALIGN_INT);
	ARRAY_OF(Anum_mq_stream_record_position, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	ARRAY_OF(Anum_mq_stream_record_key, TEXTOID, -1, false, TYPALIGN_INT);
	ARRAY_OF(Anum_mq_stream_record_headers, JSONBOID, -1, false, TYPALIGN_INT);
	ARRAY_OF(Anum_mq_stream_record_body, JSONBOID, -1, false, TYPALIGN_INT);
	values[Anum_mq_stream_record_appended_at - 1] = TimestampTzGetDatum(now);
	ARRAY_OF(Anum_mq_stream_record_payload, BYTEAOID, -1, false, TYPALIGN_INT);
	ARRAY_OF(Anum_mq_stream_record_content_type, TEXTOID, -1, false, TYPALIGN_INT);
	ARRAY_OF(Anum_mq_stream_record_content_encoding, TEXTOID, -1, false, TYPALIGN_INT);
	ARRAY_OF(Anum_mq_stream_record_correlation_id, TEXTOID, -1, false, TYPALIGN_INT);
	ARRAY_OF(Anum_mq_stream_record_reply_to, TEXTOID, -1, false, TYPALIGN_INT);
	ARRAY_OF(Anum_mq_stream_record_sent_by, TEXTOID, -1, false, TYPALIGN_INT);
#undef ARRAY_OF
	mq_spi_connect();
	plan = mq_stream_segment_plan(s, s->segment, STREAM_PLAN_INSERT, &natts);
	check_old_segment(s, natts, msgs, n);
	if (mq_execute_plan_as_owner(plan, values, NULL, 0) != SPI_OK_INSERT)
		elog(ERROR, "stream append failed");
	SPI_finish();
}

/* partition of record i: its key's, or the next in turn */
static int32
record_partition(MqStream *s, Datum key, bool isnull)
{
	text	   *t;

	if (isnull)
		return no_key_partition(s->partitions);
	t = DatumGetTextPP(key);
	return key_partition(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), s->partitions);
}

/*
 * Hand out the positions of n records (partition[] set), partition by
 * partition, so that each partition's records get consecutive positions.
 */
static void
take_all_positions(MqStream *s, int n, int32 *partition, int64 *position)
{
	int			i,
				j;
	bool	   *done = palloc0(sizeof(bool) * n);

	for (i = 0; i < n; i++)
	{
		int			count = 0;
		int64		first;

		if (done[i])
			continue;
		for (j = i; j < n; j++)
			if (!done[j] && partition[j] == partition[i])
				count++;
		first = mq_stream_take_positions(s, partition[i], count);
		for (j = i; j < n; j++)
			if (!done[j] && partition[j] == partition[i])
			{
				position[j] = first++;
				done[j] = true;
			}
	}
}

static Datum
position_datum(FunctionCallInfo fcinfo, TupleDesc desc, int32 partition,
			   int64 position)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = Int32GetDatum(partition);
	values[1] = Int64GetDatum(position);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * Append one record, as mq.append does, for a caller that holds privs on
 * the stream (0: none needed); sets its partition and position.  key and
 * headers may be NULL; m is checked (mq_message_from_args() or
 * mq_message_json() with a body the caller checked), but for its size.
 */
void
mq_stream_append_one(text *stream, const MqMessage *m, text *key,
					 Jsonb *headers, int privs, int32 *partition,
					 int64 *position)
{
	MqStream	s;
	Datum		keyd = key ? PointerGetDatum(key) : (Datum) 0;
	bool		knull = key == NULL;
	Datum		headersd = headers ? PointerGetDatum(headers) : (Datum) 0;
	bool		hnull = headers == NULL;

	mq_check_message(m->body, headers);
	if (privs != 0)
		mq_stream_lookup(stream, &s, privs);
	else
		mq_stream_find(stream, &s);
	mq_durability_require(s.min_replicas, "stream", s.name);
	*partition = record_partition(&s, keyd, knull);
	take_all_positions(&s, 1, partition, position);
	insert_records(&s, 1, partition, position, &keyd, &knull, &headersd, &hnull, m);
}

/*
 * mq.append(stream, body, key, headers, payload, content_type,
 * content_encoding, correlation_id, reply_to) returns mq.stream_position
 * (a database not yet updated calls it with the first four)
 */
Datum
mq_append(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	MqMessage	m;
	int32		partition;
	int64		position;

	mq_require_primary_fn(fcinfo);
	if (PG_ARGISNULL(0))
		mq_null_argument("stream name");
	mq_message_from_args(fcinfo, 1, 4, false, 0, &m);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	mq_stream_append_one(PG_GETARG_TEXT_PP(0), &m,
						 PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2),
						 PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3),
						 MQ_PRIV_SEND, &partition, &position);
	PG_RETURN_DATUM(position_datum(fcinfo, BlessTupleDesc(desc), partition, position));
}

/*
 * mq.append_batch(stream, bodies, keys, headers, payloads, content_types,
 * content_encoding, correlation_ids, reply_to) returns setof
 * mq.stream_position
 */
Datum
mq_append_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MqStream	s;
	MqBatchMessages b;
	MqMessage  *msgs;
	MqBatchColumn keys;
	MqBatchColumn headers;
	int32	   *partition;
	int64	   *position;
	bool	   *knulls;
	bool	   *hnulls;
	Datum	   *kvals;
	Datum	   *hvals;
	int			n;
	int			i;

	mq_require_primary_fn(fcinfo);
	if (PG_ARGISNULL(0))
		mq_null_argument("stream name");
	n = mq_batch_messages_from_args(fcinfo, 1, 4, false, 0, &b);
	mq_batch_column(fcinfo, 2, TEXTOID, "keys", n, true, &keys);
	mq_batch_column(fcinfo, 3, JSONBOID, "headers", n, true, &headers);
	msgs = palloc(sizeof(MqMessage) * n);
	for (i = 0; i < n; i++)
	{
		mq_batch_message(&b, i, &msgs[i]);
		mq_check_message(msgs[i].body,
						 headers.values && !headers.nulls[i] ?
						 DatumGetJsonbP(headers.values[i]) : NULL);
	}
	mq_stream_lookup(PG_GETARG_TEXT_PP(0), &s, MQ_PRIV_SEND);
	mq_durability_require(s.min_replicas, "stream", s.name);

	partition = palloc(sizeof(int32) * n);
	position = palloc(sizeof(int64) * n);
	kvals = keys.values ? keys.values : palloc0(sizeof(Datum) * n);
	hvals = headers.values ? headers.values : palloc0(sizeof(Datum) * n);
	knulls = keys.nulls ? keys.nulls : palloc(sizeof(bool) * n);
	hnulls = headers.nulls ? headers.nulls : palloc(sizeof(bool) * n);
	if (!keys.nulls)
		memset(knulls, true, sizeof(bool) * n);
	if (!headers.nulls)
		memset(hnulls, true, sizeof(bool) * n);
	for (i = 0; i < n; i++)
		partition[i] = record_partition(&s, kvals[i], knulls[i]);
	take_all_positions(&s, n, partition, position);
	insert_records(&s, n, partition, position, kvals, knulls, hvals, hnulls,
				   msgs);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int32GetDatum(partition[i]);
		values[1] = Int64GetDatum(position[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* mq.stream_partition(key, partitions) returns int: the partition of a key */
Datum
mq_stream_partition(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	int32		partitions = PG_GETARG_INT32(1);

	if (partitions < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partitions must be positive"),
				 errhint("Pass the stream's number of partitions (mq.streams).")));
	PG_RETURN_INT32(key_partition(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), partitions));
}
