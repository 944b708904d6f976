#!/bin/bash
# make demo, end to end, twice: servers, tenant, simulated devices over MQTT, tsk-ingest, tsk-query,
# tsk-export; the second run changes nothing that exists; demo-stop stops it all.
. "$(dirname "$0")/../lib/tap.sh"
export TSK_DEMO_VAR=$T/var
out=$(bash tests/demo.sh start 2>&1)
ok $? "demo start"
like "$out" 'umc +Uberlândia Medical Center' "tenant umc shown"
like "$out" 'CH-01 +return-temp +celsius' "the chiller's sensors in the catalog"
like "$out" 'F80332010002D8E1_rssi' "the SenML gateway's readings"
like "$out" 'bucket +device_id +sensor_id +avg' "bucket table"
like "$out" 'bucket,device_id,sensor_id,avg,min,max,last,count' "CSV export"
# The ingest counters are printed once every published reading is in: all 1045 stored, the database up.
counters=$(grep '"mode":"mqtt"' <<<"$out" | head -1)
like "$counters" '"stored":1045,"duplicates":0' "the counters shown count every published reading"
like "$counters" '"db":\{"up":true\}' "with the database up"
unlike_arriving=$(grep -c 'still arriving' <<<"$out")
is "$unlike_arriving" 0 "shown after the readings arrived, not while they were on their way"
# The README's pipelines work after `. var/demo.env`: the tools are on PATH.
is "$(env -i HOME="$HOME" PATH=/usr/bin:/bin bash -c ". '$TSK_DEMO_VAR/demo.env' && command -v tsk-query")" \
	"$TSK_BUILD/tsk-query" ". var/demo.env puts the tools on PATH"
like "$out" '"status":"accepted","id":[0-9]+,"device_id":"CH-01",[^}]*"sensors_saved":2,"duplicates_skipped":0' "tsk-httpd: POST /ingest stored"
like "$out" '"sensors_saved":0,"duplicates_skipped":2' "tsk-httpd: the replay stored nothing"
like "$out" '\{"db":true,"spool":true,"healthy":true\}' "tsk-httpd: /health"
like "$out" 'tsk_httpd_ingest_stored_total 2' "tsk-httpd: /metrics"
like "$out" 'Bloco Círurgico +America/Sao_Paulo' "the sites"
like "$out" 'CH-01 +CH-01 +[0-9]+ +Bloco Círurgico +CHILLER' "ingest provisioned the chiller under its site"
like "$out" '"rule":"Água gelada quente",.*"to":"firing","event":"firing"' "tsk-alert: the rule fires once the condition held"
like "$out" '"to":"resolved","event":"resolved","value":6.8' "and resolves by itself"
like "$out" '"sent":[1-9]' "tsk-alert notify delivered the in-app notification"
# The demo's own servers, not the suite's: read its ports from var/demo.env in a subshell.
demo_env() { (. "$TSK_DEMO_VAR/demo.env" && eval "echo \$$1"); }
TSK_DATABASE_URL=$(demo_env TSK_DATABASE_URL)
n1=$(psql "$TSK_DATABASE_URL" -qAtX -c "SELECT count(*) FROM umc.reading")
ok $(( n1 >= 1045 ? 0 : 1 )) "readings stored ($n1)"
is "$(psql "$TSK_DATABASE_URL" -qAtX -c "SELECT count(*) FROM public.app_user")" 2 "owner and staff user"
is "$(psql "$TSK_DATABASE_URL" -qAtX -c "SELECT m.role FROM public.membership m JOIN public.app_user u ON u.id = m.user_id WHERE u.email = 'owner@umc.localhost'")" owner \
	"owner@umc.localhost owns umc"
out=$(bash tests/demo.sh start 2>&1)
ok $? "demo start again"
like "$out" 'servers already running' "reuses the running servers"
counters=$(grep '"mode":"mqtt"' <<<"$out" | head -1)
done_n=$(sed -n 's/.*"stored":\([0-9]*\),"duplicates":\([0-9]*\).*/\1 \2/p' <<<"$counters" | awk '{ print $1 + $2 }')
is "$done_n" 2101 "the second run's counters include its 1045 readings (stored, or duplicates of the first run's) and the first run's 11 alert readings"
is "$(psql "$TSK_DATABASE_URL" -qAtX -c "SELECT count(*) FROM public.tenant")" 1 "still one tenant"
is "$(psql "$TSK_DATABASE_URL" -qAtX -c "SELECT count(*) FROM public.app_user")" 2 "still two users"
pgport=$(demo_env TSK_TEST_PGPORT)
mqport=$(demo_env TSK_TEST_MQTT_PORT)
httpport=$(cat "$TSK_DEMO_VAR/httpd.port")
ok $(( pgport != TSK_TEST_PGPORT ? 0 : 1 )) "the demo ran its own PostgreSQL (:$pgport)"
bash tests/demo.sh stop >/dev/null 2>&1
ok $? "demo stop"
(exec 3<>"/dev/tcp/127.0.0.1/$pgport") 2>/dev/null
is $? 1 "its PostgreSQL stopped"
(exec 3<>"/dev/tcp/127.0.0.1/$mqport") 2>/dev/null
is $? 1 "its mosquitto stopped"
(exec 3<>"/dev/tcp/127.0.0.1/$httpport") 2>/dev/null
is $? 1 "its tsk-httpd stopped"
(exec 3<>"/dev/tcp/127.0.0.1/$TSK_TEST_PGPORT") 2>/dev/null
is $? 0 "the suite's PostgreSQL is untouched"
done_testing
