/*-------------------------------------------------------------------------
 *
 * privilege.c
 *	  Per-queue and per-exchange privileges: the grants of one object, and
 *	  whether a role holds a privilege.
 *
 * mq's tables (the catalog and every queue's tables) belong to the owner of
 * the extension and are closed to everybody else.  Roles reach them only
 * through mq's functions, which check mq's own privileges first:
 *
 *	queues		send (send, send_batch), read (read, pop, ack, nack, set_vt,
 *				archive), manage (alter, purge, drop, bind, grant)
 *	exchanges	publish, manage (drop, bind, grant)
 *
 * The creator of a queue or exchange and superusers hold every privilege;
 * others get them with mq.grant() (to a role, whose members then hold them
 * too, or to PUBLIC).  The grants are rows of mq._privilege, cached with
 * the queue (queue_catalog.c) or exchange (exchange_route.c) and invalidated
 * with them.  Links (bindings, alternate exchanges, dead-letter queues) are
 * checked against the role they act for where the message moves: the caches
 * work the answers out when they are built.
 *
 * The checks are the callers': the hot path asks about GetUserId(), the
 * management functions (manage.c) about the role that called them.  mq's
 * statements then run as the extension owner (spi.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "privilege.h"
#include "spi.h"

int
mq_privilege_bits(const char *name)
{
	if (strcmp(name, "send") == 0)
		return MQ_PRIV_SEND;
	if (strcmp(name, "read") == 0)
		return MQ_PRIV_READ;
	if (strcmp(name, "manage") == 0)
		return MQ_PRIV_MANAGE;
	if (strcmp(name, "publish") == 0)
		return MQ_PRIV_PUBLISH;
	if (strcmp(name, "any") == 0)
		return MQ_PRIV_ANY;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid privilege \"%.64s\"", name),
			 errhint("Queues have the privileges send, read and manage; exchanges publish and manage.")));
	return 0;
}

static const char *
privilege_names(int privs)
{
	if (privs == MQ_PRIV_SEND)
		return "send";
	if (privs == MQ_PRIV_READ)
		return "read";
	if (privs == MQ_PRIV_MANAGE)
		return "manage";
	if (privs == MQ_PRIV_PUBLISH)
		return "publish";
	return "any";
}

/*
 * Read the grants on one object into acl, allocated in cxt.  The caller is
 * connected to SPI.
 */
void
mq_load_acl(MqAcl *acl, const char *object_type, int32 object_id, Oid owner,
			MemoryContext cxt)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	int			ret;
	uint64		i;

	values[0] = CStringGetTextDatum(object_type);
	values[1] = Int32GetDatum(object_id);
	ret = mq_execute_as_owner("SELECT grantee, privilege FROM mq._privilege"
							  " WHERE object_type OPERATOR(pg_catalog.=) $1"
							  " AND object_id OPERATOR(pg_catalog.=) $2",
							  2, argtypes, values, NULL, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));

	acl->owner = owner;
	acl->ngrants = 0;
	acl->grants = MemoryContextAlloc(cxt, sizeof(MqGrant) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			grantee = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc,
															 1, &isnull));
		char	   *priv = SPI_getvalue(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 2);

		acl->grants[acl->ngrants].grantee = grantee;
		acl->grants[acl->ngrants].privs = mq_privilege_bits(priv);
		acl->ngrants++;
	}
}

/* May role do any of privs? */

bool
mq_acl_allows(const MqAcl *acl, Oid role, int privs)
{
	int			i;

	if (role == acl->owner || superuser_arg(role))
		return true;
	for (i = 0; i < acl->ngrants; i++)
	{
		const MqGrant *g = &acl->grants[i];

		if ((g->privs & privs) == 0)
			continue;
		if (!OidIsValid(g->grantee) || has_privs_of_role(role, g->grantee))
			return true;
	}
	return false;
}

void
mq_acl_check(const MqAcl *acl, const char *kind, const char *name, Oid role,
			 int privs)
{
	if (mq_acl_allows(acl, role, privs))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s \"%s\"", kind, name),
			 privs == MQ_PRIV_ANY ?
			 errdetail("Role \"%s\" holds no privilege on %s \"%s\".",
					   GetUserNameFromId(role, false), kind, name) :
			 errdetail("Role \"%s\" lacks the %s privilege on %s \"%s\".",
					   GetUserNameFromId(role, false), privilege_names(privs),
					   kind, name),
			 errhint("The owner of the %s or a superuser can grant it with mq.grant%s().",
					 kind, strcmp(kind, "exchange") == 0 ? "_exchange" : "")));
}
