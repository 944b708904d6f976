-- The rollups' primary keys carry every column (INCLUDE), so a bucket query is an index-only scan:
-- one sensor's 168 hourly rows over 7 days sit on a few adjacent leaf pages of the key, where in the
-- heap each lies on a different page (the refresh writes an hour for all sensors at a time). A new
-- backend pays a page fault for the first touch of every page, so that is most of a one-sensor answer.
-- The key columns and their order stay as they were (device_id, sensor_id, bucket): the upserts'
-- ON CONFLICT (device_id, sensor_id, bucket) still finds its arbiter. The old key is dropped, not kept
-- beside the new one (one transaction: no moment without a key); the new index takes its name, so
-- ADD ... USING INDEX has nothing to rename. The price: a refresh's upserts change included columns,
-- so they are no longer HOT updates (each adds an index entry), and the key index is larger.
-- Index-only scans skip the heap only on all-visible pages: autovacuum sets the visibility map after a
-- refresh (tests/bench/query runs VACUUM ANALYZE itself, in autovacuum's place).
ALTER TABLE reading_1m DROP CONSTRAINT reading_1m_pkey;
CREATE UNIQUE INDEX reading_1m_pkey ON reading_1m (device_id, sensor_id, bucket)
    INCLUDE (sum, count, min, max, last, last_ts);
ALTER TABLE reading_1m ADD CONSTRAINT reading_1m_pkey PRIMARY KEY USING INDEX reading_1m_pkey;

ALTER TABLE reading_1h DROP CONSTRAINT reading_1h_pkey;
CREATE UNIQUE INDEX reading_1h_pkey ON reading_1h (device_id, sensor_id, bucket)
    INCLUDE (sum, count, min, max, last, last_ts);
ALTER TABLE reading_1h ADD CONSTRAINT reading_1h_pkey PRIMARY KEY USING INDEX reading_1h_pkey;
