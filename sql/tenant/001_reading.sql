-- A tenant's telemetry and device catalog. search_path is the tenant's schema when this runs, so every
-- name below is created there; nothing references another schema (Citus schema-based sharding can
-- place each tenant on its own node).

-- Readings, range-partitioned by ts. The default partition catches anything no dated partition covers
-- (late or future timestamps), so no row is ever refused for its time; `tsk-tenant maintain` creates
-- dated partitions ahead and drops those past retention. The unique key makes replays harmless: the
-- first value for a (device, sensor, ts) wins.
CREATE TABLE reading (
    device_id   text NOT NULL,
    sensor_id   text NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision NOT NULL,
    unit        text,
    labels      jsonb NOT NULL DEFAULT '{}'::jsonb,
    site        text,
    asset_tag   text,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, sensor_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE reading_default PARTITION OF reading DEFAULT;
CREATE INDEX reading_ingested_idx ON reading (ingested_at);

-- The catalog, kept current by the ingest sink once per batch (not once per message).
CREATE TABLE device (
    device_id   text PRIMARY KEY,
    name        text,
    site        text,
    asset_tag   text,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz,
    attributes  jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE sensor (
    device_id   text NOT NULL REFERENCES device(device_id) ON DELETE CASCADE,
    sensor_id   text NOT NULL,
    unit        text,
    type        text,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz,
    last_ts     timestamptz,
    last_value  double precision,
    PRIMARY KEY (device_id, sensor_id)
);
