/*-------------------------------------------------------------------------
 *
 * exchange.h
 *	  Exchanges and bindings: which queues a published message reaches.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_EXCHANGE_H
#define MQ_EXCHANGE_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "message.h"

#include "privilege.h"

/*
 * Longest routing or binding key, in bytes: AMQP's limit (a shortstr).  It
 * also bounds the words a topic match walks.  sql/ repeats it in
 * mq._change_binding().
 */
#define MQ_KEY_MAXLEN 255

/* exchange_route.c */

/*
 * Route a message published to the named exchange with routing_key and
 * headers (may be NULL).  Returns the names (char *) of the queues it
 * reaches, each once, sorted; NIL when it is unroutable, even through the
 * alternate exchanges.  An unknown exchange is an error.
 */
extern List *mq_route(text *exchange, text *routing_key, Jsonb *headers,
					  List **streams);

/* The owner and grants of an exchange (an error if unknown); its name. */
extern const MqAcl *mq_exchange_acl(text *exchange, const char **name);

/* an unroutable message dropped: count it against its exchange */
extern void mq_exchange_count_unroutable(text *exchange);

/* exchange_publish.c */

/* Route and send one message; returns the number of queues reached. */
extern int	mq_publish_message(text *exchange, text *routing_key,
							   const MqMessage *m, Jsonb *headers,
							   bool mandatory, TimestampTz now, TimestampTz vt,
							   int32 priority, text *dedup_key,
							   text *group_key);

#endif							/* MQ_EXCHANGE_H */
