/*-------------------------------------------------------------------------
 *
 * privilege.h
 *	  Per-queue and per-exchange privileges.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_PRIVILEGE_H
#define MQ_PRIVILEGE_H

#include "utils/memutils.h"

#define MQ_PRIV_SEND	0x01
#define MQ_PRIV_READ	0x02
#define MQ_PRIV_MANAGE	0x04
#define MQ_PRIV_PUBLISH 0x08
#define MQ_PRIV_ANY		0x0F

typedef struct MqGrant
{
	Oid			grantee;		/* InvalidOid: PUBLIC */
	int			privs;
} MqGrant;

/* who may do what with one queue or exchange */
typedef struct MqAcl
{
	Oid			owner;
	int			ngrants;
	MqGrant    *grants;
} MqAcl;

extern void mq_load_acl(MqAcl *acl, const char *object_type, int32 object_id,
						Oid owner, MemoryContext cxt);
extern bool mq_acl_allows(const MqAcl *acl, Oid role, int privs);
extern void mq_acl_check(const MqAcl *acl, const char *kind, const char *name,
						 Oid role, int privs);
extern int	mq_privilege_bits(const char *name);

#endif							/* MQ_PRIVILEGE_H */
