#!/bin/bash
# tsk-tenant mqtt against a real mosquitto with the dynamic-security plugin: per-tenant and per-device
# accounts confined to tenants/SLUG/#, ingest's account on tenants/#, a removed account locked out.
. "$(dirname "$0")/../lib/tap.sh"
. "$TSK_ROOT/tests/lib/dynsec.sh"

fresh_db tsk_t18
PLAIN_PORT=$TSK_TEST_MQTT_PORT # the suite's broker, without the plugin
dynsec_broker_start "$T/dynsec" || { echo "Bail out! no mosquitto with the dynamic-security plugin"; exit 1; }
at_exit mqtt_stop
tsk tenant create --slug alpha --name Alpha >/dev/null
tsk tenant create --slug beta --name Beta >/dev/null
P=$TSK_TEST_MQTT_PORT

# Accounts: a device of alpha (bound to its client id), a tenant-wide account of each tenant.
out=$(tsk tenant mqtt add alpha gw-alpha --device GW-A --generate)
ok $? "mqtt add --device --generate"
PA=$(printf '%s' "$out" | jq -r .password)
like "$out" '"kind":"device".*"device":"GW-A"' "a device account, bound to its client id"
ok "$([ ${#PA} -ge 20 ] && echo 0 || echo 1)" "a generated password is printed once"
printf '%s\n' 'alpha-Sub-1' | tsk tenant mqtt add alpha sub-alpha >/dev/null
ok $? "mqtt add with the password on standard input"
printf '%s\n' 'beta-Sub-1' | tsk tenant mqtt add beta sub-beta >/dev/null
ok $? "an account of the second tenant"

# Adding twice is an error and changes nothing (the old password still works below).
err=$(printf '%s\n' 'other-pw' | tsk tenant mqtt add beta sub-beta 2>&1 >/dev/null)
is "$?" 2 "adding an existing username: exit 2"
like "$err" 'exists already \(tenant beta\); nothing changed' "and says whose it is"
err=$(printf '%s\n' 'pw' | tsk tenant mqtt add gamma x 2>&1 >/dev/null)
is "$?" 2 "an unknown tenant: exit 2"
like "$err" 'gamma' "naming it"
err=$(printf '%s\n' 'pw' | tsk tenant mqtt add 'al/pha' x 2>&1 >/dev/null)
is "$?" 2 "a slug with a topic separator is refused"
is "$(tsk tenant mqtt list alpha | jq -r '.username' | sort | tr '\n' ' ')" "gw-alpha sub-alpha " "list SLUG: that tenant's accounts"
is "$(tsk tenant mqtt list | jq -r '.tenant' | sort | uniq | tr '\n' ' ')" "alpha beta " "list: every tenant's"

# Subscribers: each tenant's own account on its own tree.
# (exec: the background job is mosquitto_sub itself, so the kill at exit reaches it; a subscriber
# left behind would retry its vanished broker for ever.)
sub() { exec mosquitto_sub -p "$P" -q 1 -v "$@"; }
pub() { mosquitto_pub -p "$P" -q 1 "$@"; }
SUBS=
stop_subs() { [ -z "$SUBS" ] || kill $SUBS 2>/dev/null; wait $SUBS 2>/dev/null; SUBS=; }
at_exit stop_subs
sub -u sub-alpha -P alpha-Sub-1 -i sub-alpha-1 -t 'tenants/alpha/#' >"$T/alpha.out" 2>"$T/alpha.err" &
SUBS="$SUBS $!"
sub -u sub-beta -P beta-Sub-1 -i sub-beta-1 -t 'tenants/beta/#' >"$T/beta.out" 2>"$T/beta.err" &
SUBS="$SUBS $!"
# Subscribed once a marker published after the start arrives.
ready() { # ready TENANT USER PASSWORD
	pub -u "$2" -P "$3" -i "ready-$1" -t "tenants/$1/ready" -m ready 2>/dev/null
	grep -q "^tenants/$1/ready ready" "$T/$1.out"
}
wait_for 60 ready alpha sub-alpha alpha-Sub-1; ok $? "alpha's subscriber is up"
wait_for 60 ready beta sub-beta beta-Sub-1; ok $? "beta's subscriber is up"

# The device publishes to its tenant: received.
pub -u gw-alpha -P "$PA" -i GW-A -t 'tenants/alpha/sites/S1/assets/CH-01/telemetry' -m 'hello-alpha'
ok $? "the device publishes under tenants/alpha/"
wait_for 60 grep -q 'tenants/alpha/sites/S1/assets/CH-01/telemetry hello-alpha' "$T/alpha.out"
ok $? "and alpha's subscriber receives it"

# To the other tenant: the broker drops it. QoS 1, so mosquitto_pub returns after the broker handled it;
# beta's own marker published afterwards arrives after anything the broker had routed to beta before it.
pub -u gw-alpha -P "$PA" -i GW-A -t 'tenants/beta/sites/S1/assets/X/telemetry' -m 'leak-to-beta'
pub -u gw-alpha -P "$PA" -i GW-A -t 'other/topic' -m 'leak-elsewhere'
pub -u sub-beta -P beta-Sub-1 -i marker-beta -t 'tenants/beta/marker' -m 'marker-after'
wait_for 60 grep -q 'tenants/beta/marker marker-after' "$T/beta.out"
ok $? "beta's marker arrived"
is "$(grep -c leak "$T/beta.out")" 0 "and nothing alpha's device published to tenants/beta/ before it"

# Subscriptions outside the tenant are refused (SUBACK 128); its own are granted.
suback() { mosquitto_sub -p "$P" -u gw-alpha -P "$PA" -i GW-A -E -d -t "$1" 2>&1 | sed -n 's/^Subscribed (mid: [0-9]*): //p'; }
is "$(suback 'tenants/beta/#')" 128 "the device cannot subscribe to tenants/beta/#"
is "$(suback 'tenants/+/#')" 128 "nor to tenants/+/#"
is "$(suback '#')" 128 "nor to #"
is "$(suback 'tenants/alpha/#')" 0 "but to tenants/alpha/#"
err=$(pub -u gw-alpha -P "$PA" -i not-GW-A -t 'tenants/alpha/x' -m x 2>&1)
ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "a device account connects only with its client id"
like "$err" 'not authori' "refused as not authorised"

# tsk-ingest's account: tenants/# and shared subscriptions of it, nothing else.
tsk tenant mqtt add --ingest ingest-1 --generate >"$T/ingest.json"
ok $? "mqtt add --ingest"
PI=$(jq -r .password "$T/ingest.json")
is "$(mosquitto_sub -p "$P" -u ingest-1 -P "$PI" -E -d -t 'tenants/+/#' -t '$share/tsk/tenants/+/#' -t 'other/#' 2>&1 |
	sed -n 's/^Subscribed (mid: [0-9]*): //p')" "0, 0, 128" "ingest subscribes to tenants/+/# and \$share/tsk/tenants/+/#, not other/#"

# Removed: can no longer connect.
out=$(tsk tenant mqtt rm alpha gw-alpha)
ok $? "mqtt rm"
like "$out" '"deleted":true' "says so"
err=$(pub -u gw-alpha -P "$PA" -i GW-A -t 'tenants/alpha/x' -m x 2>&1)
ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "a removed account cannot connect"
like "$err" 'not authori' "refused"
tsk tenant mqtt rm alpha gw-alpha 2>/dev/null
is "$?" 2 "removing it again: exit 2 (not found)"
tsk tenant mqtt rm beta sub-alpha 2>/dev/null
is "$?" 2 "an account is removed only through its own tenant"
is "$(tsk tenant mqtt list alpha | jq -r .username)" "sub-alpha" "list after rm"

# The broker unreachable: exit 75; a wrong admin password: exit 1.
TSK_MQTT_ADMIN_URL=mqtt://admin:x@127.0.0.1:1 tsk tenant mqtt list 2>/dev/null
is "$?" 75 "broker unreachable: exit 75"
TSK_MQTT_ADMIN_URL=mqtt://admin:wrong@127.0.0.1:$P tsk tenant mqtt list 2>/dev/null
is "$?" 1 "admin refused: exit 1"
env -u TSK_MQTT_ADMIN_URL "$TSK_BUILD/tsk-tenant" mqtt list 2>/dev/null
is "$?" 2 "no mqtt_admin_url: exit 2"

# Isolation rests on the broker denying what no role allows: add refuses when the default says allow.
ctl() { mosquitto_pub -p "$P" -u admin -P "$TSK_DYNSEC_ADMIN_PW" -q 1 -t '$CONTROL/dynamic-security/v1' -m "$1"; }
ctl '{"commands":[{"command":"setDefaultACLAccess","acls":[{"acltype":"publishClientSend","allow":true}]}]}'
err=$(printf '%s\n' 'pw-12345' | tsk tenant mqtt add alpha late-device 2>&1 >/dev/null)
is "$?" 1 "a broker whose default allows publishing: add refuses (exit 1)"
like "$err" "default ACL access allows publishClientSend" "and says why"
is "$(tsk tenant mqtt list alpha | jq -r .username)" "sub-alpha" "nothing was added"
ctl '{"commands":[{"command":"setDefaultACLAccess","acls":[{"acltype":"publishClientSend","allow":false}]}]}'
printf '%s\n' 'pw-12345' | tsk tenant mqtt add alpha late-device >/dev/null
ok $? "with the default denied again, it adds"

# A broker without the plugin never answers: exit 75 after mqtt_admin_timeout, naming the likely cause.
err=$(TSK_MQTT_ADMIN_URL=mqtt://admin:x@127.0.0.1:$PLAIN_PORT TSK_MQTT_ADMIN_TIMEOUT=1 tsk tenant mqtt list 2>&1)
is "$?" 75 "no dynamic-security plugin: exit 75"
like "$err" 'is the plugin loaded' "says what to check"

done_testing
