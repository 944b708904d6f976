-- Self-registration (POST /api/auth/register/) names a user name besides the address: stored in lower
-- case, unique, Django's characters (letters, digits and @ . + - _), at most 150 characters. NULL for
-- accounts made otherwise (tsk-tenant user add, invitations): their user name is their address.
-- The avatar (POST /api/users/me/avatar/): avatar is the image's URL as the frontend loads it,
-- avatar_key the object's key in the avatar bucket (what is deleted when it is replaced or removed).
ALTER TABLE public.app_user
    ADD COLUMN username   text UNIQUE
               CHECK (username = lower(username) AND username ~ '^[[:alnum:]@.+_-]+$' AND char_length(username) <= 150),
    ADD COLUMN avatar     text CHECK (char_length(avatar) <= 2048),
    ADD COLUMN avatar_key text CHECK (char_length(avatar_key) <= 1024);
