-- Password reset tokens (POST /api/auth/password-reset/request/): one-hour, single-use, stored as the
-- hex SHA-256 of the token (32 random bytes, base64url), so the table never holds a usable token; 256
-- random bits make a slow hash unnecessary. A new request deletes the user's older tokens; a reset
-- marks its token used (used_at) and deletes the user's other ones. tenant_id is the site the reset
-- was asked on (NULL: the public site), for the record. Rows past their expiry are deleted by the next
-- request.
CREATE TABLE public.password_reset_token (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES public.app_user(id) ON DELETE CASCADE,
    token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    tenant_id   bigint REFERENCES public.tenant(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_reset_token_user_idx ON public.password_reset_token(user_id);
CREATE INDEX password_reset_token_expires_idx ON public.password_reset_token(expires_at);
