#!/bin/bash
# tsk-tenant's paths under valgrind: no invalid access, no definite or indirect leak (exit 99 if any).
. "$(dirname "$0")/../lib/tap.sh"
command -v valgrind >/dev/null || { echo "1..0 # SKIP valgrind not installed"; exit 0; }
# Sanitizer builds (make asan) cannot run under valgrind; the plain build's run covers this file.
if ldd "$TSK_BUILD/tsk-tenant" | grep -q libasan; then echo "1..0 # SKIP sanitizer build"; exit 0; fi
fresh_db t_tenant_vg
vg() { tsk_vg tenant "$@" >"$T/out" 2>"$T/err"; local rc=$?; [ $rc -ne 99 ] || cat "$T/err" | sed 's/^/# /'; return $rc; }

vg migrate;                                         is $? 0 "migrate"
vg create --slug vg-one --name "One" --domain one.example; is $? 0 "create"
vg create --slug 'a;drop schema public cascade--' --name X; is $? 2 "create with a hostile slug"
vg create --slug vg-one --name "Dup";               is $? 2 "create a duplicate"
vg list --format table;                             is $? 0 "list as a table"
vg list --format csv;                               is $? 0 "list as csv"
vg show vg-one;                                     is $? 0 "show"
vg show nope;                                       is $? 2 "show unknown"
vg domain add vg-one two.example;                   is $? 0 "domain add"
vg domain rm vg-one two.example;                    is $? 0 "domain rm"
vg domain list;                                     is $? 0 "domain list"
vg set vg-one retention 90d;                        is $? 0 "set"
vg unset vg-one retention;                          is $? 0 "unset"
echo 'Dev@123456' | vg user add o@vg.example;       is $? 0 "user add (argon2id)"
echo 'Dev@123456' | vg user verify o@vg.example;    is $? 0 "user verify"
echo 'nope12345' | vg user verify o@vg.example;     is $? 1 "user verify, wrong password"
vg member add vg-one o@vg.example --role owner;     is $? 0 "member add"
vg member rm vg-one o@vg.example;                   is $? 2 "member rm of the last owner"
vg member list vg-one;                              is $? 0 "member list"
vg user list;                                       is $? 0 "user list"
vg token add vg-one ci --role viewer;               is $? 0 "token add"
tok=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' "$T/out")
vg token add vg-one --ingest;                       is $? 0 "token add --ingest"
echo "$tok" | vg token verify vg-one;               is $? 0 "token verify"
echo "x$tok" | vg token verify vg-one;              is $? 1 "token verify, a malformed token"
vg token list vg-one --format table;                is $? 0 "token list"
vg token rm vg-one ci;                              is $? 0 "token rm"
echo "$tok" | vg token verify vg-one;               is $? 1 "token verify, revoked"
vg delete vg-one --yes;                             is $? 0 "delete"
vg --dsn "host=127.0.0.1 port=1 connect_timeout=2" list; is $? 75 "database down"
vg --help;                                          is $? 0 "--help"
vg frobnicate;                                      is $? 2 "unknown command"
done_testing
