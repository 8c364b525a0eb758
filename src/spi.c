/*-------------------------------------------------------------------------
 *
 * spi.c
 *	  mq's statements through SPI: a checked connect, plans prepared once
 *	  and kept, and running them as the extension's owner.
 *
 * mq's tables (the catalog and every queue's tables) belong to the owner of
 * the extension and are closed to everybody else.  After its own privilege
 * check (privilege.c), mq runs its statements as that owner
 * (SetUserIdAndSecContext around the SPI call, as SECURITY DEFINER does but
 * only where needed), with search_path set to "pg_catalog, pg_temp" (as
 * SECURITY DEFINER functions should: a trigger somebody put on a queue's
 * table runs as the owner then, and must not find the caller's functions
 * or operators first); an error unwinds both with the transaction.  mq's
 * own statements name every object with its schema.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "spi.h"

static Oid	extension_owner = InvalidOid;

/* SPI_connect(), or an error */
void
mq_spi_connect(void)
{
	int			ret;

	if ((ret = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(ret));
}

Oid
mq_extension_owner(void)
{
	if (!OidIsValid(extension_owner))
	{
		Oid			extoid = get_extension_oid("mq", false);
		Relation	rel;
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;

		rel = table_open(ExtensionRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(extoid));
		scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
		tup = systable_getnext(scan);
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "extension mq not found");
		extension_owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	return extension_owner;
}

void
mq_forget_extension_owner(void)
{
	extension_owner = InvalidOid;
}

/*
 * Prepare a statement of mq's own, with a generic plan (none of them needs
 * a custom one), and keep it for the life of the backend or until the caller
 * frees it.  The caller is connected to SPI.
 */
SPIPlanPtr
mq_keep_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes,
										  CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * Switch to the extension owner with a safe search_path; the caller switches
 * back with restore_user().
 */
static int
become_owner(Oid *saved_user, int *saved_context)
{
	int			nest_level;

	GetUserIdAndSecContext(saved_user, saved_context);
	SetUserIdAndSecContext(mq_extension_owner(),
						   *saved_context | SECURITY_LOCAL_USERID_CHANGE);
	nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nest_level;
}

static void
restore_user(Oid saved_user, int saved_context, int nest_level)
{
	AtEOXact_GUC(true, nest_level);
	SetUserIdAndSecContext(saved_user, saved_context);
}

int
mq_execute_plan_as_owner(SPIPlanPtr plan, Datum *values, const char *nulls,
						 long count)
{
	Oid			saved_user;
	int			saved_context;
	int			nest_level;
	int			ret;

	nest_level = become_owner(&saved_user, &saved_context);
	ret = SPI_execute_plan(plan, values, nulls, false, count);
	restore_user(saved_user, saved_context, nest_level);
	return ret;
}

int
mq_execute_as_owner(const char *sql, int nargs, Oid *argtypes, Datum *values,
					const char *nulls, long count)
{
	Oid			saved_user;
	int			saved_context;
	int			nest_level;
	int			ret;

	nest_level = become_owner(&saved_user, &saved_context);
	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, count);
	restore_user(saved_user, saved_context, nest_level);
	return ret;
}

/*
 * Run sql as the extension owner with the latest snapshot, read only (see
 * roles.c).  The caller is connected to SPI.
 */
int
mq_execute_latest_as_owner(const char *sql, int nargs, Oid *argtypes,
						   Datum *values)
{
	Oid			saved_user;
	int			saved_context;
	int			nest_level;
	SPIPlanPtr	plan;
	int			ret;

	nest_level = become_owner(&saved_user, &saved_context);
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	ret = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
							   InvalidSnapshot, true, false, 0);
	restore_user(saved_user, saved_context, nest_level);
	return ret;
}

/*
 * A column of a result row by name; NULL (*isnull) if it has none such (a
 * catalog read by a library newer than the database's extension).
 */
Datum
mq_spi_column(HeapTuple tup, TupleDesc desc, const char *name, bool *isnull)
{
	int			fnumber = SPI_fnumber(desc, name);

	if (fnumber <= 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return SPI_getbinval(tup, desc, fnumber, isnull);
}
