/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  Configuration parameters of mq (mq.*).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_GUC_H
#define MQ_GUC_H

extern int	mq_max_batch_size;
extern int	mq_max_wait;
extern int	mq_poll_interval;
extern int	mq_max_waiters;
extern int	mq_max_rate_groups;
extern int	mq_max_stream_partitions;
extern int	mq_max_stream_consumers;
extern int	mq_max_group_partitions;
extern int	mq_max_rate_groups_per_role;
extern int	mq_max_stream_partitions_per_role;
extern int	mq_max_stream_consumers_per_role;
extern int	mq_max_group_partitions_per_role;
extern int	mq_maintenance_interval;
extern int	mq_notify_interval;
extern int	mq_worker_max_sleep;
extern int	mq_max_workers;
extern int	mq_worker_idle_timeout;
extern int	mq_max_message_size;
extern int	mq_max_headers_size;
extern int	mq_scan_hint_max_age;
extern bool mq_direct_access;
extern int	mq_compact_threshold;
extern int	mq_compact_max_rows;

extern void mq_define_gucs(void);

#endif							/* MQ_GUC_H */
