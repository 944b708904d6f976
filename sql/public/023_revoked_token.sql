-- Refresh tokens revoked before they expire (POST /api/auth/logout/): a denylist by the token's jti,
-- checked when a refresh token is used. A row is needed only until the token would have expired anyway;
-- rows expired for a day (a margin for clocks that differ) are deleted whenever a token is revoked (the
-- index on expires_at keeps that cheap).
CREATE TABLE public.revoked_token (
    jti        text PRIMARY KEY CHECK (jti ~ '^[0-9a-f]{32}$'),
    user_id    bigint NOT NULL REFERENCES public.app_user(id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_token_expires_idx ON public.revoked_token(expires_at);
