-- The registry shared by all tenants: tenants, their HTTP domains, users and memberships, API tokens,
-- the audit log and export jobs. Tenant data lives in one schema per tenant (sql/tenant/).
CREATE TABLE public.tenant (
    id          bigserial PRIMARY KEY,
    slug        text NOT NULL UNIQUE
                CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$' AND slug <> 'public' AND slug NOT LIKE 'pg%'),
    schema_name text NOT NULL UNIQUE,
    name        text NOT NULL CHECK (name <> ''),
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.domain (
    domain      text PRIMARY KEY CHECK (domain = lower(domain) AND domain <> ''),
    tenant_id   bigint NOT NULL REFERENCES public.tenant(id) ON DELETE CASCADE,
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX domain_tenant_idx ON public.domain(tenant_id);

CREATE TABLE public.app_user (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
    password_hash text NOT NULL,
    is_staff      boolean NOT NULL DEFAULT false,
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.membership (
    user_id    bigint NOT NULL REFERENCES public.app_user(id) ON DELETE CASCADE,
    tenant_id  bigint NOT NULL REFERENCES public.tenant(id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'technician', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX membership_tenant_idx ON public.membership(tenant_id);

CREATE TABLE public.api_token (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint REFERENCES public.tenant(id) ON DELETE CASCADE,
    user_id     bigint REFERENCES public.app_user(id) ON DELETE CASCADE,
    name        text NOT NULL,
    token_hash  text NOT NULL UNIQUE,
    scopes      text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    last_used_at timestamptz
);

CREATE TABLE public.audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    tenant     text,
    action     text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON public.audit_log(at);

CREATE TABLE public.export_job (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES public.tenant(id) ON DELETE CASCADE,
    requested_by text,
    kind        text NOT NULL,
    params      jsonb NOT NULL DEFAULT '{}'::jsonb,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    rows        bigint,
    location    text,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
