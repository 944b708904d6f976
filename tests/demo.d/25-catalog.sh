# make demo, step 2b: what ingest provisioned from the canonical topics (assets under their sites,
# devices linked), and the hourly catalog refresh (online/offline, availability).
say "tsk-tenant asset list / device list (provisioned by ingest)"
"$B/tsk-tenant" --format table asset list --tenant umc
"$B/tsk-tenant" --format table device list --tenant umc
say "tsk-tenant catalog refresh (hourly from cron/systemd: online/offline, availability)"
"$B/tsk-tenant" catalog refresh umc
