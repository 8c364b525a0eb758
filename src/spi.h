/*-------------------------------------------------------------------------
 *
 * spi.h
 *	  mq's statements through SPI, run as the extension's owner.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_SPI_H
#define MQ_SPI_H

#include "executor/spi.h"

extern void mq_spi_connect(void);

/* a column of a result row by name; NULL (*isnull) if it has none such */
extern Datum mq_spi_column(HeapTuple tup, TupleDesc desc, const char *name,
						   bool *isnull);
extern Oid	mq_extension_owner(void);
extern void mq_forget_extension_owner(void);
extern SPIPlanPtr mq_keep_plan(const char *sql, int nargs, Oid *argtypes);
extern int	mq_execute_plan_as_owner(SPIPlanPtr plan, Datum *values,
									 const char *nulls, long count);
extern int	mq_execute_as_owner(const char *sql, int nargs, Oid *argtypes,
								Datum *values, const char *nulls, long count);
extern int	mq_execute_latest_as_owner(const char *sql, int nargs,
									   Oid *argtypes, Datum *values);

#endif							/* MQ_SPI_H */
