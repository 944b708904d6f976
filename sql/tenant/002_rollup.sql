-- Rollups of reading: one row per (device, sensor, 1-minute or 1-hour bucket), buckets aligned with
-- date_bin(..., '2000-01-01T00:00:00Z'). Each row keeps what merges exactly into any larger bucket:
-- the sum (numeric, of each value's shortest decimal form, so an average does not depend on the order
-- or the grouping of the additions), count, min, max, and the last value with its ts (the value at the
-- greatest ts wins; one sensor cannot have two readings at one ts). Maintained by `tsk-query refresh`
-- (lib/query/series.c), which recomputes whole buckets from the raw rows, never adds deltas.
CREATE TABLE reading_1m (
    bucket      timestamptz NOT NULL,
    device_id   text NOT NULL,
    sensor_id   text NOT NULL,
    sum         numeric NOT NULL,
    count       bigint NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    last        double precision NOT NULL,
    last_ts     timestamptz NOT NULL,
    PRIMARY KEY (device_id, sensor_id, bucket)
);
CREATE INDEX reading_1m_bucket_idx ON reading_1m (bucket);

CREATE TABLE reading_1h (LIKE reading_1m INCLUDING ALL);

-- The refresh watermark: every row with ingested_at <= watermark is counted in the rollups. `lag` is
-- the safety margin the watermark keeps behind the clock (see lib/query/series.c: the late-commit race).
CREATE TABLE rollup_state (
    name         text PRIMARY KEY,
    watermark    timestamptz NOT NULL DEFAULT '-infinity',
    lag          interval NOT NULL DEFAULT '1 minute' CHECK (lag >= interval '0'),
    refreshed_at timestamptz
);
INSERT INTO rollup_state (name) VALUES ('reading');
