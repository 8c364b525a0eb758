/*-------------------------------------------------------------------------
 *
 * manage.h
 *	  The management functions' entry point and LISTEN checks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_MANAGE_H
#define MQ_MANAGE_H

#include "nodes/nodes.h"

/*
 * Run sql (connected to SPI) as the extension owner, with the extension
 * owner as the management functions' caller: for what mq does on
 * PostgreSQL's behalf once PostgreSQL has checked the permissions.
 */
extern int	mq_execute_as_manager(const char *sql, int nargs, Oid *argtypes,
								  Datum *values);

/* from the utility hook: LISTEN on a queue's channel needs read */
extern void mq_privilege_before_utility(Node *parsetree);

#endif							/* MQ_MANAGE_H */
