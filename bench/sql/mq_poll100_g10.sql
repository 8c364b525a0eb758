\set g random(0, 9)
BEGIN;
SELECT count(mq.commit('bcons', 'bg' || :g, 'c', partition, last + 1))
FROM (SELECT partition, max(position) AS last
	  FROM mq.poll('bcons', 'bg' || :g, 'c', 100) GROUP BY partition) p;
COMMIT;
