/*-------------------------------------------------------------------------
 *
 * group.h
 *	  Stream consumer groups: members, assignments, polls, commits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_GROUP_H
#define MQ_GROUP_H

/* shared memory, from mq.c's hooks when preloaded */
extern void mq_group_shmem_request(void);
extern void mq_group_shmem_startup(void);

#endif							/* MQ_GROUP_H */
