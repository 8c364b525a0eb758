-- Bounds of mq's settings: 22023 naming the setting and its range.
-- From PostgreSQL 17 the range carries the unit ("1 ms .. 10000 ms"), so
-- this file has two expected outputs: guc.out (15, 16) and guc_1.out (17+).
SET mq.max_batch_size = 0;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET mq.poll_interval = 0;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET mq.max_wait = '2h';
SET mq.scan_hint_max_age = '-1s';
-- superuser-only and postmaster-only settings cannot be changed this way
SET mq.max_waiters = 10;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE ROLE mq_guc_user;
SET ROLE mq_guc_user;
SET mq.max_message_size = '1kB';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET mq.direct_access = off;
RESET ROLE;
DROP ROLE mq_guc_user;
-- mq's prefix is reserved: a misspelt setting is an error, not a silent no-op
SET mq.no_such_setting = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- valid values are taken
SET mq.poll_interval = '20ms';
SHOW mq.poll_interval;
RESET mq.poll_interval;
