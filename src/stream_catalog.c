/*-------------------------------------------------------------------------
 *
 * stream_catalog.c
 *	  Streams: finding a stream by name for a call, with the caller's
 *	  privileges, through a per-backend cache; the check of a partition
 *	  number.  See src/README.md ("Streams").
 *
 * A call needs of a stream its id, its number of partitions, its owner and
 * its kept segments (the oldest, and the newest, where appends go): a row
 * of mq._stream and the least and greatest of its rows in
 * mq._stream_segment.  Each backend caches them by name (see below).  A
 * reader does not trust the cache for the segments: it reads them again
 * after taking its readable end (stream_segment.c).
 *
 * Privileges are grants in mq._privilege with object type "stream";
 * owners and superusers hold them all, so their look-ups read no grants.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "args.h"
#include "privilege.h"
#include "spi.h"
#include "stream_int.h"
#include "worker_slot.h"

static SPIPlanPtr lookup_plan = NULL;

/*
 * The backend's cache of streams by name, dropped whenever mq._stream or
 * mq._stream_segment changes (their triggers invalidate the relcache
 * entry; a rotation or a drop by the worker reaches us at our next
 * transaction or lock).  A look-up that misses reads the catalog.
 */
typedef struct StreamCacheEntry
{
	char		name[MQ_NAME_MAXLEN + 1];	/* hash key */
	MqStream	s;
} StreamCacheEntry;

static HTAB *stream_cache = NULL;
static bool stream_cache_valid = false;
static Oid	stream_relids[2] = {InvalidOid, InvalidOid};

static void
stream_cache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == stream_relids[0] || relid == stream_relids[1])
		stream_cache_valid = false;
}

static void
stream_cache_prepare(void)
{
	static bool registered = false;
	HASHCTL		ctl;
	Oid			nsp;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(stream_cache_callback, (Datum) 0);
		registered = true;
	}
	if (stream_cache != NULL && stream_cache_valid)
		return;
	if (stream_cache != NULL)
		hash_destroy(stream_cache);
	ctl.keysize = MQ_NAME_MAXLEN + 1;
	ctl.entrysize = sizeof(StreamCacheEntry);
	ctl.hcxt = TopMemoryContext;
	stream_cache = hash_create("mq stream cache", 16, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	nsp = get_namespace_oid("mq", false);
	stream_relids[0] = get_relname_relid("_stream", nsp);
	stream_relids[1] = get_relname_relid("_stream_segment", nsp);
	/* before 0.5.0 no trigger tells of changes: no cache then */
	if (!OidIsValid(get_relname_relid("_stream_commit", nsp)))
		stream_relids[0] = InvalidOid;
	stream_cache_valid = true;
}

void
mq_stream_find(text *name, MqStream *s)
{
	Oid			argtype = TEXTOID;
	Datum		arg = PointerGetDatum(name);
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	StreamCacheEntry *cached;
	bool		found;
	Datum		d;

	mq_name_key("stream", name, s->name);
	/* what this transaction writes may be due before the worker wakes */
	mq_worker_wake_at_commit();
	stream_cache_prepare();
	cached = hash_search(stream_cache, s->name, HASH_FIND, NULL);
	if (cached != NULL)
	{
		*s = cached->s;
		return;
	}
	mq_spi_connect();
	if (lookup_plan == NULL)
		/*
		 * The stream's whole row, read by column name: a library newer than
		 * the extension's SQL finds the options it knows of, and the kept
		 * plan sees the columns an update adds (as queue_catalog.c does).
		 */
		lookup_plan = mq_keep_plan("SELECT"
								   " (SELECT pg_catalog.max(g.segment) FROM mq._stream_segment g"
								   "  WHERE g.stream_id OPERATOR(pg_catalog.=) s.stream_id) AS newest_segment,"
								   " (SELECT pg_catalog.min(g.segment) FROM mq._stream_segment g"
								   "  WHERE g.stream_id OPERATOR(pg_catalog.=) s.stream_id) AS oldest_segment,"
								   " s.* FROM mq._stream s WHERE s.stream_name OPERATOR(pg_catalog.=) $1",
								   1, &argtype);
	if (mq_execute_plan_as_owner(lookup_plan, &arg, NULL, 1) != SPI_OK_SELECT)
		elog(ERROR, "stream look-up failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream \"%s\" does not exist", s->name),
				 errhint("Create it with mq.create_stream().")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	s->id = DatumGetInt32(mq_spi_column(tup, desc, "stream_id", &isnull));
	s->partitions = DatumGetInt32(mq_spi_column(tup, desc, "partitions", &isnull));
	s->owner = DatumGetObjectId(mq_spi_column(tup, desc, "owner", &isnull));
	s->segment = DatumGetInt32(mq_spi_column(tup, desc, "newest_segment", &isnull));
	if (isnull)
		s->segment = 1;
	s->first_segment = DatumGetInt32(mq_spi_column(tup, desc, "oldest_segment", &isnull));
	if (isnull)
		s->first_segment = s->segment;
	/* 0.8.0's durability: absent before the update ('local') */
	s->min_replicas = 0;
	d = mq_spi_column(tup, desc, "durability", &isnull);
	if (!isnull && strcmp(TextDatumGetCString(d), "replicated") == 0)
	{
		s->min_replicas = DatumGetInt32(mq_spi_column(tup, desc, "min_replicas", &isnull));
		s->min_replicas = isnull ? 1 : Max(s->min_replicas, 1);
	}
	SPI_finish();

	/* only a cache that no change invalidated meanwhile keeps the entry */
	if (stream_cache_valid && stream_relids[0] != InvalidOid)
	{
		cached = hash_search(stream_cache, s->name, HASH_ENTER, &found);
		cached->s = *s;
	}
}

void
mq_stream_lookup(text *name, MqStream *s, int privs)
{
	Oid			role = GetUserId();

	mq_stream_find(name, s);
	/* owners and superusers hold every privilege: no grants to read */
	if (role != s->owner && !superuser())
	{
		MqAcl		acl;
		MemoryContext cxt = CurrentMemoryContext;

		mq_spi_connect();
		mq_load_acl(&acl, "stream", s->id, s->owner, cxt);
		SPI_finish();
		mq_acl_check(&acl, "stream", s->name, role, privs);
	}
}

void
mq_stream_check_partition(MqStream *s, int32 partition)
{
	if (partition < 0 || partition >= s->partitions)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream \"%s\" has no partition %d", s->name, partition),
				 errhint("Partitions are numbered from 0 to %d.", s->partitions - 1)));
}
