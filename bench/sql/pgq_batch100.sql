BEGIN;
SELECT coalesce(pgq.next_batch('pc', 'pc' || :client_id), 0) AS b \gset
\if :b > 0
SELECT count(*) FROM pgq.get_batch_events(:b);
SELECT pgq.finish_batch(:b);
\endif
COMMIT;
