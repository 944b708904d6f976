-- Password generation: a counter bumped by every change of app_user.password_hash, whoever makes it
-- (the trigger below, so no statement can forget it); it may also be raised by hand to end every
-- session without a new password, never lowered. Tokens carry the generation they were issued
-- under; a token of an older generation is refused, so changing a password revokes every session.
-- last_login and last_login_ip are set by a successful login.
ALTER TABLE public.app_user
    ADD COLUMN password_gen  integer NOT NULL DEFAULT 1 CHECK (password_gen >= 1),
    ADD COLUMN last_login    timestamptz,
    ADD COLUMN last_login_ip inet;

CREATE FUNCTION public.app_user_password_gen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.password_hash IS DISTINCT FROM OLD.password_hash THEN
        NEW.password_gen := OLD.password_gen + 1;
    ELSE
        NEW.password_gen := greatest(NEW.password_gen, OLD.password_gen);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER app_user_password_gen BEFORE UPDATE ON public.app_user
    FOR EACH ROW EXECUTE FUNCTION public.app_user_password_gen();
