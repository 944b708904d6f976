# make demo, step 3: tsk-query answers from rollups refreshed by `tsk-query refresh` (cron/timer).
say "tsk-tenant maintain (partitions ahead, retention) and tsk-query refresh (rollups)"
"$B/tsk-tenant" maintain umc
"$B/tsk-query" refresh --tenant umc
say "tsk-query sensors --tenant umc --format table"
"$B/tsk-query" sensors --tenant umc --format table
say "tsk-query buckets --tenant umc --device CH-01 --bucket 1h --from -3h --format table"
"$B/tsk-query" buckets --tenant umc --device CH-01 --bucket 1h --from -3h --format table
say "tsk-query history --tenant umc --device AHU-02 --sensor temp-amb --from -3h --format table"
"$B/tsk-query" history --tenant umc --device AHU-02 --sensor temp-amb --from -3h --format table | head -n 12
say "tsk-query summary --tenant umc --device F80332010002D8E1"
"$B/tsk-query" summary --tenant umc --device F80332010002D8E1 --format table
