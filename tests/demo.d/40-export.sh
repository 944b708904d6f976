# make demo, step 4: CSV for BI tools, from a pipeline and from tsk-export's own streamed query.
say "tsk-query buckets ... | tsk-export -o var/umc-ch01-15m.csv"
"$B/tsk-query" buckets --tenant umc --device CH-01 --bucket 15m --from -3h --asc | "$B/tsk-export" -o "$VAR/umc-ch01-15m.csv"
head -n 4 "$VAR/umc-ch01-15m.csv"
say "tsk-export raw --tenant umc --from -10m  (streamed, constant memory)"
"$B/tsk-export" raw --tenant umc --from -10m --limit 5
