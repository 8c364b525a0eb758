/*-------------------------------------------------------------------------
 *
 * privilege.h
 *	  Per-queue and per-exchange privileges, and running SQL as the
 *	  extension's owner.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_PRIVILEGE_H
#define MQ_PRIVILEGE_H

#include "executor/spi.h"

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

/* from the utility hook: LISTEN on a queue's channel needs read */
extern void mq_privilege_before_utility(Node *parsetree);

extern Oid	mq_extension_owner(void);
extern void mq_forget_extension_owner(void);
extern SPIPlanPtr mq_keep_plan(const char *sql, int nargs, Oid *argtypes);
extern int	mq_execute_plan_as_owner(SPIPlanPtr plan, Datum *values,
									 const char *nulls, long count);
extern int	mq_execute_as_owner(const char *sql, int nargs, Oid *argtypes,
								Datum *values, const char *nulls, long count);
extern int	mq_execute_latest_as_owner(const char *sql, int nargs,
									   Oid *argtypes, Datum *values);
extern int	mq_execute_as_manager(const char *sql, int nargs, Oid *argtypes,
								  Datum *values);

#endif							/* MQ_PRIVILEGE_H */
