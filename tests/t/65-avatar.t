#!/bin/bash
# POST and DELETE /api/users/me/avatar/ through tsk-httpd against a real S3-compatible server
# (tests/s3: @20minutes/s3rver, which checks SigV4): a PNG is stored at avatars/ID/RANDOM.png with its
# bytes and its URL lands in the profile; the type is decided by the content (a .png of text is
# refused, a GIF named .png is stored as .gif); 5 MB at most (6 MB: 413); a new avatar deletes the old
# object and DELETE removes it; no credentials, another tenant's token, a token without a user; not
# multipart, no file, a broken envelope; a daemon without an avatar store answers 503, and so does a
# store that is down.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
. "$TSK_ROOT/tests/s3/s3.sh"
fresh_db t_avatar
tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
tsk tenant create --slug other --name Other --domain other.localhost >/dev/null
api_user ana@umc.localhost umc viewer
api_user tec@umc.localhost umc technician
api_user zed@other.localhost other owner
api_user staff@localhost.local
uid() { q "SELECT id FROM public.app_user WHERE email = '$1'"; }
ANA=$(uid ana@umc.localhost)

# Images: a real PNG, and the first bytes of the other types (the check reads the content's signature).
/usr/bin/python3 - "$T" <<'PY'
import struct, sys, zlib
d = sys.argv[1]
def chunk(t, b): return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
raw = b"".join(b"\x00" + bytes([x * 8 % 256, 0, 255 - x * 8 % 256]) * 32 for x in range(32))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(d + "/a.png", "wb").write(png)
open(d + "/b.jpg", "wb").write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200 + b"\xff\xd9")
open(d + "/c.gif", "wb").write(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
open(d + "/d.webp", "wb").write(b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\x00" * 24)
open(d + "/text.png", "wb").write(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>\n")
open(d + "/big.png", "wb").write(png[:8] + b"\x00" * (6 * 1024 * 1024))
open(d + "/justover.png", "wb").write(png[:8] + b"\x00" * (5 * 1024 * 1024 - 7))
open(d + "/max.png", "wb").write(png[:8] + b"\x00" * (5 * 1024 * 1024 - 8))
PY

# --- no avatar store configured: 503 -------------------------------------------------------------------
httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd runs (no avatar store)"
P=$HTTPD_PORT
UMC="umc.localhost:$P"
# (api_token, tests/lib/httpd.sh, logs in with plain curl: a login's answers are checked in 53-httpd-auth.t;
# every exchange with the avatar endpoints goes through call)
AT=$(api_token "$UMC" ana@umc.localhost)
call POST "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer $AT" -F "avatar=@$T/a.png;type=image/png"
is "$API_STATUS" 503 "no avatar_bucket: 503"
like "$API_BODY" '^\{"detail":"O armazenamento de avatares não está configurado' "with a clear detail"
call DELETE "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer $AT"
is "$API_STATUS" 503 "DELETE too"
call POST "$UMC" /api/users/me/avatar/ -F "avatar=@$T/a.png"
is "$API_STATUS" 401 "still, no credentials is 401 first"
httpd_stop

if ! S3_BUCKETS=avatars s3_start "$T/s3srv" 2>"$T/s3err"; then
	ok 1 "the S3 test server starts: $(tail -3 "$T/s3err")"
	openapi_check
	done_testing
fi
at_exit s3_stop
ok 0 "the S3 test server runs at $TSK_S3_ENDPOINT"
TSK_AVATAR_BUCKET=avatars httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd runs with avatar_bucket"
P=$HTTPD_PORT
UMC="umc.localhost:$P"
PUB="localhost:$P"
AT=$(api_token "$UMC" ana@umc.localhost)
jget() { printf '%s' "$1" | /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin)$2; print(v if isinstance(v,str) else json.dumps(v, ensure_ascii=False))"; }
up() { call POST "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer $AT" "$@"; }
key_of() { q "SELECT coalesce(avatar_key, '') FROM public.app_user WHERE id = $1"; }

# --- credentials -----------------------------------------------------------------------------------------
call POST "$UMC" /api/users/me/avatar/ -F "avatar=@$T/a.png"
is "$API_STATUS" 401 "POST without credentials: 401"
call DELETE "$UMC" /api/users/me/avatar/
is "$API_STATUS" 401 "DELETE without credentials: 401"
ZT=$(api_token "other.localhost:$P" zed@other.localhost)
call POST "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer $ZT" -F "avatar=@$T/a.png"
is "$API_STATUS" 401 "another tenant's token: 401"
call POST "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer not.a.token" -F "avatar=@$T/a.png"
is "$API_STATUS" 401 "a forged token: 401"
own=$(tsk tenant token add umc grafana --role viewer | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
call POST "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer $own" -F "avatar=@$T/a.png"
is "$API_STATUS" 403 "an API token without a user: 403 (it has no profile)"
is "$(find "$S3_DATA/avatars" -name '*_S3rver_object' 2>/dev/null | grep -c .)" 0 "nothing was stored"

# --- a PNG ---------------------------------------------------------------------------------------------------
up -F "avatar=@$T/a.png;filename=../../x'; DROP TABLE public.app_user; --.png;type=image/png"
is "$API_STATUS" 200 "a PNG: 200"
is "$(jget "$API_BODY" '["message"]')" "Avatar atualizado com sucesso!" "the message"
K1=$(key_of "$ANA")
like "$K1" "^avatars/$ANA/[0-9a-f]{32}\\.png\$" "stored at avatars/ID/RANDOM.png (the name sent plays no part)"
is "$(jget "$API_BODY" '["user"]["avatar"]')" "$TSK_S3_ENDPOINT/avatars/$K1" "the user's avatar is the object's URL"
is "$(s3_get "avatars/$K1" "$T/got1")" 200 "the object exists"
cmp -s "$T/got1" "$T/a.png"
ok $? "with the image's bytes"
call GET "$UMC" /api/users/me/ -H "Authorization: Bearer $AT"
is "$(jget "$API_BODY" '["avatar"]')" "$TSK_S3_ENDPOINT/avatars/$K1" "GET /api/users/me/ shows it"
is "$(q "SELECT count(*) FROM public.app_user")" 4 "the users table is intact"

# --- replacing deletes the old object ----------------------------------------------------------------------------
up -F "avatar=@$T/b.jpg;type=image/jpeg"
is "$API_STATUS" 200 "a JPEG: 200"
K2=$(key_of "$ANA")
like "$K2" "^avatars/$ANA/[0-9a-f]{32}\\.jpg\$" "stored as .jpg"
is "$(s3_get "avatars/$K2" "$T/got2")" 200 "the new object exists"
is "$(s3_get "avatars/$K1" "$T/gone")" 404 "the old object is deleted"
up -F "avatar=@$T/c.gif;filename=photo.png;type=image/png"
is "$API_STATUS" 200 "a GIF named .png: 200"
K3=$(key_of "$ANA")
like "$K3" '\.gif$' "stored as .gif: the content decides"
is "$(s3_get "avatars/$K2" "$T/gone")" 404 "the JPEG is deleted"
up -F "avatar=@$T/d.webp"
is "$API_STATUS" 200 "a WebP: 200"
like "$(key_of "$ANA")" '\.webp$' "stored as .webp"
up -F "avatar=@$T/max.png"
is "$API_STATUS" 200 "exactly 5 MB: accepted"
is "$(s3_get "avatars/$(key_of "$ANA")" "$T/gotmax")" 200 "and stored"
cmp -s "$T/gotmax" "$T/max.png"
ok $? "with every byte"
# (s3rver keeps each object as KEY._S3rver_object beside its metadata files)
is "$(ls "$S3_DATA/avatars/avatars/$ANA" 2>/dev/null | grep -c '_S3rver_object$')" 1 "one object of the user is left on the store"

# --- refused uploads ---------------------------------------------------------------------------------------------
before=$(key_of "$ANA")
up -F "avatar=@$T/text.png;type=image/png"
is "$API_STATUS $API_BODY" '400 {"error":"Tipo de arquivo não permitido. Use JPG, PNG, GIF ou WebP."}' "a .png of text: 400"
up -F "avatar=@$T/big.png"
ok $([ "$API_STATUS" = 413 ] || [ "$API_STATUS" = 400 ] && echo 0 || echo 1) "6 MB: refused ($API_STATUS)"
up -H 'Transfer-Encoding: chunked' -F "avatar=@$T/big.png"
ok $([ "$API_STATUS" = 413 ] || [ "$API_STATUS" = 400 ] && echo 0 || echo 1) "6 MB sent chunked, without a length: refused ($API_STATUS)"
up -F "avatar=@$T/justover.png"
is "$API_STATUS $API_BODY" '400 {"error":"Arquivo muito grande. Tamanho máximo: 5MB."}' "5 MB and one byte: 400"
up -H 'Content-Type: application/json' --data-binary '{"avatar":"x"}'
is "$API_STATUS $API_BODY" '400 {"error":"Nenhum arquivo enviado."}' "not multipart: 400"
up -F "picture=@$T/a.png"
is "$API_STATUS $API_BODY" '400 {"error":"Nenhum arquivo enviado."}' "no field named avatar: 400"
up -F "avatar=not a file"
is "$API_STATUS $API_BODY" '400 {"error":"Nenhum arquivo enviado."}' "avatar as a plain field: 400"
up -H 'Content-Type: multipart/form-data; boundary=XYZ' --data-binary $'--ABC\r\nContent-Disposition: form-data; name="avatar"; filename="a.png"\r\n\r\n\x89PNG'
is "$API_STATUS" 400 "a broken multipart envelope: 400"
up -H 'Content-Type: multipart/form-data' --data-binary 'garbage'
is "$API_STATUS" 400 "multipart without a boundary: 400"
is "$(key_of "$ANA")" "$before" "none of them changed the avatar"
is "$(s3_get "avatars/$before" /dev/null)" 200 "nor deleted its object"

# --- DELETE ---------------------------------------------------------------------------------------------------------
call DELETE "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer $AT"
is "$API_STATUS" 200 "DELETE: 200"
is "$(jget "$API_BODY" '["message"]') $(jget "$API_BODY" '["user"]["avatar"]')" "Avatar removido com sucesso! null" \
	"the message, and no avatar"
is "$(s3_get "avatars/$before" /dev/null)" 404 "the object is deleted"
is "$(key_of "$ANA")" "" "and the profile forgets it"
call DELETE "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer $AT"
is "$API_STATUS" 200 "DELETE with no avatar: 200"
call GET "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer $AT"
is "$API_STATUS" 405 "GET: 405"

# --- other roles and the public host -----------------------------------------------------------------------------------
TT=$(api_token "$UMC" tec@umc.localhost)
call POST "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer $TT" -F "avatar=@$T/a.png"
is "$API_STATUS" 200 "a technician (read-only role) sets its own avatar"
ST=$(api_token "$PUB" staff@localhost.local)
call POST "$PUB" /api/users/me/avatar/ -H "Authorization: Bearer $ST" -F "avatar=@$T/a.png"
is "$API_STATUS" 200 "the public host: 200"
like "$(key_of "$(uid staff@localhost.local)")" "^avatars/$(uid staff@localhost.local)/" "under the public user's id"
call POST "$PUB" /api/users/me/avatar/ -H "Authorization: Bearer $AT" -F "avatar=@$T/a.png"
is "$API_STATUS" 401 "a tenant's token on the public host: 401"

# --- the store is down: 503, nothing changes ---------------------------------------------------------------------------
k=$(key_of "$(uid tec@umc.localhost)")
s3_stop
call POST "$UMC" /api/users/me/avatar/ -H "Authorization: Bearer $TT" -F "avatar=@$T/b.jpg"
is "$API_STATUS" 503 "the store is down: 503"
is "$(jget "$API_BODY" '["error"]')" "Erro ao fazer upload do avatar." "with the original's error"
is "$(key_of "$(uid tec@umc.localhost)")" "$k" "the avatar is unchanged"
httpd_stop
is $? 0 "tsk-httpd stops with status 0"
openapi_check
done_testing
