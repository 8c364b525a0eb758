/*-------------------------------------------------------------------------
 *
 * exchange_topic.h
 *	  The trie of topic binding keys.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_EXCHANGE_TOPIC_H
#define MQ_EXCHANGE_TOPIC_H

#include "nodes/pg_list.h"

typedef struct MqTopicNode MqTopicNode;

/* build: new, insert every key with what it stands for, finish */
extern MqTopicNode *mq_topic_new(void);
extern void mq_topic_insert(MqTopicNode *root, const char *key, void *payload);
extern void mq_topic_finish(MqTopicNode *root);

/* the payloads of the keys that match words (mq_split_words) */
extern List *mq_topic_match(MqTopicNode *root, char **words, int nwords);
extern char **mq_split_words(const char *key, int *nwords);

#endif							/* MQ_EXCHANGE_TOPIC_H */
