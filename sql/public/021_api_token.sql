-- Long-lived API tokens: tsk_<prefix>_<secret>. The prefix (12 hex digits) finds the row; token_hash is
-- the hex BLAKE2b hash of the whole token, compared in constant time, so the table never holds a usable
-- token. role is a membership role, or "ingest" for a token that only POST /ingest accepts. A revoked
-- token keeps its row (revoked_at) for the audit trail; names are unique among a tenant's live tokens.
ALTER TABLE public.api_token
    ADD COLUMN prefix     text UNIQUE CHECK (prefix ~ '^[0-9a-f]{12}$'),
    ADD COLUMN role       text NOT NULL DEFAULT 'viewer'
               CHECK (role IN ('owner', 'admin', 'operator', 'technician', 'viewer', 'ingest')),
    ADD COLUMN revoked_at timestamptz,
    ADD CONSTRAINT api_token_name_check CHECK (name <> '' AND name !~ '^[0-9]+$' AND length(name) <= 100);

CREATE INDEX api_token_tenant_idx ON public.api_token(tenant_id);
CREATE UNIQUE INDEX api_token_live_name_idx ON public.api_token(tenant_id, name) WHERE revoked_at IS NULL;
