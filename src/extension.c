/*-------------------------------------------------------------------------
 *
 * extension.c
 *	  DROP EXTENSION mq: the tables mq made at run time go with it.
 *
 * The tables of queues (mq.q_<id>, a_<id>, d_<id>) and of stream segments
 * (mq.s_<id>_<segment>) are made by mq's functions, not by its install
 * script, so they are not members of the extension: pg_dump dumps them, with
 * their rows, like any table, and a restore makes them again after CREATE
 * EXTENSION (src/README.md, "Storage").  Nothing tied them to the extension,
 * though, so DROP EXTENSION mq CASCADE left them behind with their messages,
 * and a new CREATE EXTENSION, whose ids start again at 1, met them ("relation
 * mq.q_1 already exists").
 *
 * So before DROP EXTENSION runs (an event trigger on ddl_command_start, a
 * member of the extension, which fires whether or not mq is preloaded),
 * each such table named by mq's catalog gets a normal dependency on the
 * extension, as a table that uses an extension's type has.  The drop's own
 * walk of dependencies then does the rest: without CASCADE it refuses and
 * lists them (the guard against dropping messages by accident), with CASCADE
 * it drops them.  The dependencies are recorded at the drop, not when the
 * tables are made, because pg_dump does not keep them: a restored database
 * has none.  If the drop fails, they roll back with it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"

#include "spi.h"

PG_FUNCTION_INFO_V1(mq_before_drop_extension);

/*
 * The tables that mq's catalog names and that do not depend on the
 * extension yet
 */
#define MQ_RUNTIME_TABLES_SQL \
	"SELECT c.oid FROM pg_catalog.pg_class c" \
	" WHERE c.relnamespace OPERATOR(pg_catalog.=) $1" \
	" AND c.relkind OPERATOR(pg_catalog.=) 'r'" \
	" AND c.relname OPERATOR(pg_catalog.=) ANY (" \
	"  SELECT pg_catalog.concat(p.prefix, q.queue_id) FROM mq._queue q," \
	"   (VALUES ('q_'), ('a_'), ('d_')) p(prefix)" \
	"  UNION ALL SELECT pg_catalog.concat('s_', g.stream_id, '_', g.segment)" \
	"   FROM mq._stream_segment g)" \
	" AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d" \
	"  WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass" \
	"  AND d.objid OPERATOR(pg_catalog.=) c.oid" \
	"  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass" \
	"  AND d.refobjid OPERATOR(pg_catalog.=) $2)"

/* does a DROP EXTENSION name mq? */
static bool
drops_mq(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "mq") == 0)
			return true;
	return false;
}

/*
 * mq._before_drop_extension(): the event trigger mq_drop_extension, on
 * ddl_command_start of DROP EXTENSION.  Makes the tables mq made at run
 * time depend on the extension (see the file header).
 */
Datum
mq_before_drop_extension(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	ObjectAddress extension;
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		args[2];
	Oid			schema;
	uint64		i;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mq._before_drop_extension() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!drops_mq(trigdata->parsetree))
		PG_RETURN_VOID();
	ObjectAddressSet(extension, ExtensionRelationId, get_extension_oid("mq", true));
	schema = get_namespace_oid("mq", true);
	if (!OidIsValid(extension.objectId) || !OidIsValid(schema))
		PG_RETURN_VOID();

	args[0] = ObjectIdGetDatum(schema);
	args[1] = ObjectIdGetDatum(extension.objectId);
	mq_spi_connect();
	if (mq_execute_as_owner(MQ_RUNTIME_TABLES_SQL, 2, argtypes, args, NULL, 0) != SPI_OK_SELECT)
		elog(ERROR, "look-up of mq's tables failed");
	for (i = 0; i < SPI_processed; i++)
	{
		ObjectAddress table;
		bool		isnull;

		ObjectAddressSet(table, RelationRelationId,
						 DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc,
														1, &isnull)));
		recordDependencyOn(&table, &extension, DEPENDENCY_NORMAL);
	}
	SPI_finish();
	CommandCounterIncrement();
	PG_RETURN_VOID();
}
