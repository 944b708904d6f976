-- The ops panel (the original system): who is a superuser (sees every export job), the audit log's columns
-- (the original's ops_auditlog) and export jobs with their owner, statuses and download link
-- (ops_exportjob).
ALTER TABLE public.app_user ADD COLUMN is_superuser boolean NOT NULL DEFAULT false;

ALTER TABLE public.audit_log
    ADD COLUMN user_id           bigint REFERENCES public.app_user(id) ON DELETE SET NULL,
    ADD COLUMN record_count      bigint,
    ADD COLUMN execution_time_ms integer,
    ADD COLUMN ip_address        inet,
    ADD COLUMN user_agent        text CHECK (length(user_agent) <= 500);
CREATE INDEX audit_log_user_idx ON public.audit_log(user_id, at DESC);
CREATE INDEX audit_log_tenant_idx ON public.audit_log(tenant, at DESC);
CREATE INDEX audit_log_action_idx ON public.audit_log(action, at DESC);

ALTER TABLE public.export_job DROP CONSTRAINT export_job_status_check;
UPDATE public.export_job SET status = CASE status WHEN 'running' THEN 'processing' WHEN 'done' THEN 'completed'
    ELSE status END;
ALTER TABLE public.export_job
    ADD CONSTRAINT export_job_status_check CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    ADD COLUMN user_id         bigint REFERENCES public.app_user(id) ON DELETE CASCADE,
    ADD COLUMN file_url        text,
    ADD COLUMN file_size_bytes bigint,
    ADD COLUMN started_at      timestamptz,
    ADD COLUMN expires_at      timestamptz;
CREATE INDEX export_job_user_idx ON public.export_job(user_id, created_at DESC);
CREATE INDEX export_job_status_idx ON public.export_job(status, created_at DESC);
