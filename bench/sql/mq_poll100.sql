BEGIN;
SELECT count(mq.commit('bcons', 'bg' || :client_id, 'c', partition, last + 1))
FROM (SELECT partition, max(position) AS last
	  FROM mq.poll('bcons', 'bg' || :client_id, 'c', 100) GROUP BY partition) p;
COMMIT;
