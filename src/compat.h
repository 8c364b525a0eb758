/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every difference between the PostgreSQL versions mq supports (15 to
 *	  19), in one place.
 *
 * Function bodies elsewhere carry no PG_VERSION_NUM checks: they call the
 * small wrappers below, which take the arguments mq needs and supply the
 * rest the way the running major version wants them.  When a new major
 * version changes an API mq uses, add (or extend) a wrapper here.
 *
 *	  16: object_ownercheck() replaces pg_<object>_ownercheck();
 *	      table_tuple_update() reports TU_UpdateIndexes (was bool);
 *	      ExecInsertIndexTuples() takes onlySummarizing.
 *	  17: getIdentitySequence() takes a Relation;
 *	      PGPROC.pgprocno is gone, MyProcNumber is the backend's number.
 *	  18: index_beginscan() takes an IndexScanInstrumentation pointer;
 *	      RelationGetPrimaryKeyIndex() takes deferrable_ok.
 *	  19: index_beginscan() and table_index_fetch_begin() take flags;
 *	      table_tuple_update() and table_tuple_delete() take options after
 *	      cid (delete lost changingPart); ExecInsertIndexTuples() takes a
 *	      flags bitmask; pushJsonbValue() builds into a JsonbInState.
 *
 * src/include paths are the same in every supported version.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_COMPAT_H
#define MQ_COMPAT_H

#include "postgres.h"

#include "access/genam.h"
#include "access/tableam.h"
#include "catalog/dependency.h"
#include "catalog/pg_database.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 200000
#error "mq supports PostgreSQL 15 to 19"
#endif

/* This backend's number in the PGPROC array (for GetPGProcByNumber). */
static inline int
mq_my_procno(void)
{
#if PG_VERSION_NUM >= 170000
	return MyProcNumber;
#else
	return MyProc->pgprocno;
#endif
}

/* Does role own database dboid? */
static inline bool
mq_database_ownercheck(Oid dboid, Oid roleid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(DatabaseRelationId, dboid, roleid);
#else
	return pg_database_ownercheck(dboid, roleid);
#endif
}

/* The sequence behind identity column attnum of rel. */
static inline Oid
mq_identity_sequence(Relation rel, AttrNumber attnum)
{
#if PG_VERSION_NUM >= 170000
	return getIdentitySequence(rel, attnum, false);
#else
	return getIdentitySequence(RelationGetRelid(rel), attnum, false);
#endif
}

/* The primary key index of rel, InvalidOid if none (deferrable ones too). */
static inline Oid
mq_primary_key_index(Relation rel)
{
#if PG_VERSION_NUM >= 180000
	return RelationGetPrimaryKeyIndex(rel, true);
#else
	return RelationGetPrimaryKeyIndex(rel);
#endif
}

/* An index scan with nkeys keys and no ORDER BY keys, not instrumented. */
static inline IndexScanDesc
mq_index_beginscan(Relation heap, Relation index, Snapshot snapshot, int nkeys)
{
#if PG_VERSION_NUM >= 190000
	return index_beginscan(heap, index, snapshot, NULL, nkeys, 0, 0);
#elif PG_VERSION_NUM >= 180000
	return index_beginscan(heap, index, snapshot, NULL, nkeys, 0);
#else
	return index_beginscan(heap, index, snapshot, nkeys, 0);
#endif
}

static inline IndexFetchTableData *
mq_index_fetch_begin(Relation rel)
{
#if PG_VERSION_NUM >= 190000
	return table_index_fetch_begin(rel, 0);
#else
	return table_index_fetch_begin(rel);
#endif
}

/* Which index entries a tuple update needs (TU_UpdateIndexes from 16). */
typedef enum MqIndexUpdate
{
	MQ_INDEX_NONE,				/* HOT: none */
	MQ_INDEX_ALL,
	MQ_INDEX_SUMMARIZING		/* only summarizing indexes (BRIN) */
} MqIndexUpdate;

/* table_tuple_update() with no crosscheck snapshot and default options. */
static inline TM_Result
mq_tuple_update(Relation rel, ItemPointer otid, TupleTableSlot *slot,
				CommandId cid, Snapshot snapshot, bool wait,
				TM_FailureData *tmfd, MqIndexUpdate *indexes)
{
	LockTupleMode lockmode;
	TM_Result	result;
#if PG_VERSION_NUM >= 160000
	TU_UpdateIndexes update_indexes = TU_None;

	result = table_tuple_update(rel, otid, slot, cid,
#if PG_VERSION_NUM >= 190000
								0,
#endif
								snapshot, InvalidSnapshot, wait, tmfd,
								&lockmode, &update_indexes);
	*indexes = update_indexes == TU_None ? MQ_INDEX_NONE :
		update_indexes == TU_Summarizing ? MQ_INDEX_SUMMARIZING : MQ_INDEX_ALL;
#else
	bool		update_indexes = false;

	result = table_tuple_update(rel, otid, slot, cid, snapshot,
								InvalidSnapshot, wait, tmfd, &lockmode,
								&update_indexes);
	*indexes = update_indexes ? MQ_INDEX_ALL : MQ_INDEX_NONE;
#endif
	return result;
}

/* table_tuple_delete() with no crosscheck snapshot, not moving partitions. */
static inline TM_Result
mq_tuple_delete(Relation rel, ItemPointer tid, CommandId cid,
				Snapshot snapshot, bool wait, TM_FailureData *tmfd)
{
#if PG_VERSION_NUM >= 190000
	return table_tuple_delete(rel, tid, cid, 0, snapshot, InvalidSnapshot,
							  wait, tmfd);
#else
	return table_tuple_delete(rel, tid, cid, snapshot, InvalidSnapshot,
							  wait, tmfd, false);
#endif
}

/*
 * Index entries for a tuple just inserted (or the new version of a non-HOT
 * update), with no arbiter indexes: a unique violation raises its error.
 */
static inline void
mq_insert_index_tuples(ResultRelInfo *rri, TupleTableSlot *slot,
					   EState *estate, MqIndexUpdate indexes)
{
#if PG_VERSION_NUM >= 190000
	(void) ExecInsertIndexTuples(rri, estate,
								 indexes == MQ_INDEX_SUMMARIZING ?
								 EIIT_ONLY_SUMMARIZING : 0,
								 slot, NIL, NULL);
#elif PG_VERSION_NUM >= 160000
	(void) ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL,
								 indexes == MQ_INDEX_SUMMARIZING);
#else
	(void) ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
#endif
}

/*
 * Building a jsonb value token by token.  Zero-initialise the state
 * (MqJsonbBuild b = {0}), push, and take the value with mq_jsonb_finish()
 * after the outermost WJB_END_*.
 */
#if PG_VERSION_NUM >= 190000
typedef JsonbInState MqJsonbBuild;

static inline void
mq_jsonb_push(MqJsonbBuild *b, JsonbIteratorToken tok, JsonbValue *v)
{
	pushJsonbValue(b, tok, v);
}

static inline Jsonb *
mq_jsonb_finish(MqJsonbBuild *b)
{
	return JsonbValueToJsonb(b->result);
}
#else
typedef struct MqJsonbBuild
{
	JsonbParseState *parse;
	JsonbValue *result;
} MqJsonbBuild;

static inline void
mq_jsonb_push(MqJsonbBuild *b, JsonbIteratorToken tok, JsonbValue *v)
{
	b->result = pushJsonbValue(&b->parse, tok, v);
}

static inline Jsonb *
mq_jsonb_finish(MqJsonbBuild *b)
{
	return JsonbValueToJsonb(b->result);
}
#endif

/*
 * A hash table in shared memory of a fixed number of entries: PostgreSQL 19's
 * ShmemInitHash() takes one size, earlier ones an initial and a maximum.
 */
#if PG_VERSION_NUM >= 190000
#define mq_shmem_init_hash(name, nelems, info, flags) \
	ShmemInitHash((name), (nelems), (info), (flags))
#else
#define mq_shmem_init_hash(name, nelems, info, flags) \
	ShmemInitHash((name), (nelems), (nelems), (info), (flags))
#endif

#endif							/* MQ_COMPAT_H */
