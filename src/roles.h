/*-------------------------------------------------------------------------
 *
 * roles.h
 *	  Roles that own queues and exchanges or hold privileges on them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_ROLES_H
#define MQ_ROLES_H

#include "nodes/nodes.h"

/* from the utility hook: before DROP ROLE; after DROP / REASSIGN OWNED */
extern void mq_roles_before_utility(Node *parsetree);
extern void mq_roles_after_utility(Node *parsetree);

#endif							/* MQ_ROLES_H */
