/*
 * trigger.sql: triggers that turn row changes into messages (trigger.c):
 * the transactional outbox, and change data capture into a stream.
 */

CREATE OR REPLACE FUNCTION mq.send_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mq_send_trigger' LANGUAGE C;
COMMENT ON FUNCTION mq.send_trigger()
	IS 'Row trigger: send each changed row to a queue (transactional outbox).';

CREATE OR REPLACE FUNCTION mq.publish_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mq_publish_trigger' LANGUAGE C;
COMMENT ON FUNCTION mq.publish_trigger()
	IS 'Row trigger: publish each changed row to an exchange (transactional outbox).';

/* change data capture into a stream */
CREATE OR REPLACE FUNCTION mq.append_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'mq_append_trigger' LANGUAGE C;
COMMENT ON FUNCTION mq.append_trigger()
	IS 'Trigger: append each changed row to a stream, keyed by a column (arguments: stream [, key column]).';
