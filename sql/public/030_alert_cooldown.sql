-- The alert cooldown of the original's users: while an alert keeps firing, its rule's creator's
-- alert_cooldown_minutes is how long to wait between repeat notifications (0 means the default, 60).
ALTER TABLE public.app_user
    ADD COLUMN alert_cooldown_minutes integer NOT NULL DEFAULT 60 CHECK (alert_cooldown_minutes >= 0);
