/*-------------------------------------------------------------------------
 *
 * delivery.h
 *	  Checks shared by the sending functions (delivery.c, routing.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_DELIVERY_H
#define MQ_DELIVERY_H

#include "utils/jsonb.h"

/* headers must be an object; body and headers within their size limits */
extern void mq_check_message(Jsonb *body, Jsonb *headers);

#endif							/* MQ_DELIVERY_H */
