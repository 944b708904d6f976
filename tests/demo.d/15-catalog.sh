# make demo, step 1b: the asset catalog's sites. Ingest never creates a site; once these exist, a
# canonical topic (tenants/umc/sites/SITE/assets/TAG/telemetry) provisions its asset and device.
say "tsk-tenant site add (the sites of the building; ingest then provisions assets and devices)"
for s in "Bloco Círurgico" "Bloco A"; do
	"$B/tsk-tenant" site list --tenant umc | grep -qF "\"name\":\"$s\"" ||
		printf '{"name":"%s","timezone":"America/Sao_Paulo","company":"UMC"}\n' "$s" | "$B/tsk-tenant" site add --tenant umc >/dev/null
done
"$B/tsk-tenant" --format table site list --tenant umc
