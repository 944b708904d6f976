-- The profile a user edits through PATCH /api/users/me/ (the rest of the account is the operator's):
-- names, phone, a short biography, the time zone and clock format the frontend shows times in.
ALTER TABLE public.app_user
    ADD COLUMN first_name  text NOT NULL DEFAULT '' CHECK (char_length(first_name) <= 150),
    ADD COLUMN last_name   text NOT NULL DEFAULT '' CHECK (char_length(last_name) <= 150),
    ADD COLUMN phone       text CHECK (char_length(phone) <= 20),
    ADD COLUMN bio         text CHECK (char_length(bio) <= 10000),
    ADD COLUMN timezone    text NOT NULL DEFAULT 'America/Sao_Paulo'
                           CHECK (timezone <> '' AND char_length(timezone) <= 50),
    ADD COLUMN time_format text NOT NULL DEFAULT '24h' CHECK (time_format IN ('12h', '24h')),
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now();
