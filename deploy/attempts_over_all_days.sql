-- Attempt numbers over the whole retries table (DuckDB).
--
-- A dated run numbers attempts among the retries of its own ingest date only
-- (attempt_number / attempt_count are "within this day's delivery"). To number
-- every retry of an assignment across all days, rank over the whole table with
-- the same rule: per (new_course_uuid, new_assignment_resource_link_id), by
-- (event_time, event_fingerprint), counting one row per distinct event.
-- Copies of one event delivered on two ingest dates share their fingerprint
-- and count once.
--
--   duckdb -c "SET VARIABLE retries = 'OUT/retries/**/*.parquet'" -f deploy/attempts_over_all_days.sql
WITH retries AS (
    SELECT * FROM read_parquet(getvariable('retries'), hive_partitioning = true)
),
distinct_retries AS (
    SELECT * FROM retries
    QUALIFY row_number() OVER (PARTITION BY event_fingerprint ORDER BY ingest_date) = 1
)
SELECT
    *,
    CASE WHEN new_assignment_resource_link_id IS NOT NULL THEN
        row_number() OVER (PARTITION BY new_course_uuid, new_assignment_resource_link_id
                           ORDER BY event_time, event_fingerprint) END::INTEGER AS attempt_number_all_days,
    CASE WHEN new_assignment_resource_link_id IS NOT NULL THEN
        count(*) OVER (PARTITION BY new_course_uuid, new_assignment_resource_link_id) END::INTEGER AS attempt_count_all_days
FROM distinct_retries
ORDER BY new_course_uuid, new_assignment_resource_link_id, event_time, event_fingerprint;
