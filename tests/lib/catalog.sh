# The catalog API tests' common setup (sourced after tap.sh and httpd.sh): catalog_setup NAME makes the
# test database NAME with tenants umc and other, a user of every role on umc (owner, admin, operator,
# technician, viewer), a user whose membership is removed after login (gone), other's owner, an API
# token of umc (script, operator) and a revoked one (old), starts the daemon and logs everyone in.
# Then: as WHO METHOD PATH [CURL ARGS...] calls on umc's host with WHO's credentials (none: no
# Authorization header); send WHO METHOD PATH JSON posts a JSON body.
declare -A TOK
catalog_setup() {
	fresh_db "$1"
	tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
	tsk tenant create --slug other --name Other --domain other.localhost >/dev/null
	local r
	for r in owner admin operator technician viewer; do
		api_user "$r@umc.localhost" umc "$r" || return 1
	done
	api_user gone@umc.localhost umc viewer
	api_user boss@other.localhost other owner
	api_user lone@umc.localhost
	httpd_start --config /dev/null --workers 2 || return 1
	UMC="umc.localhost:$HTTPD_PORT"
	OTHER="other.localhost:$HTTPD_PORT"
	for r in owner admin operator technician viewer gone; do
		TOK[$r]=$(api_token "$UMC" "$r@umc.localhost")
	done
	tsk tenant member rm umc gone@umc.localhost >/dev/null
	TOK[other]=$(api_token "$OTHER" boss@other.localhost)
	TOK[script]=$(tsk tenant token add umc script --role operator | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
	TOK[old]=$(tsk tenant token add umc old --role owner | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
	tsk tenant token rm umc old >/dev/null
	[ -n "${TOK[owner]}" ] && [ -n "${TOK[viewer]}" ] && [ -n "${TOK[other]}" ] && [ -n "${TOK[script]}" ]
}
as() {
	local who=$1 m=$2 path=$3
	shift 3
	if [ "$who" = none ]; then
		call "$m" "$UMC" "$path" "$@"
	else
		call "$m" "$UMC" "$path" -H "Authorization: Bearer ${TOK[$who]}" "$@"
	fi
}
send() {
	local who=$1 m=$2 path=$3 body=$4
	shift 4
	as "$who" "$m" "$path" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}
# The id of the object in API_BODY ({"id":N,...}).
body_id() { sed -n 's/^{"id":\([0-9]*\),.*/\1/p' <<<"$API_BODY"; }
# Every row of the catalog, as one text to compare before and after hostile requests.
catalog_dump() {
	q "SELECT (SELECT string_agg(s::text, ';' ORDER BY id) FROM umc.site s) || '|' ||
	          (SELECT coalesce(string_agg(a::text, ';' ORDER BY id), '') FROM umc.asset a) || '|' ||
	          (SELECT coalesce(string_agg(d::text, ';' ORDER BY id), '') FROM umc.device d) || '|' ||
	          (SELECT coalesce(string_agg(x::text, ';' ORDER BY id), '') FROM umc.sensor x) || '|' ||
	          (SELECT count(*) FROM public.tenant) || '|' || (SELECT count(*) FROM public.app_user)"
}
