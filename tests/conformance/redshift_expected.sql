SET timezone TO 'UTC';

SET enable_case_sensitive_super_attribute TO true;

SHOW enable_case_sensitive_identifier;

SELECT db_collation();

BEGIN;

CREATE SCHEMA IF NOT EXISTS dynashift;

CREATE SCHEMA IF NOT EXISTS "public";

CREATE TABLE IF NOT EXISTS dynashift.tables (table_name VARCHAR(65535), source_table VARCHAR(65535), key_attributes VARCHAR(65535), created_at TIMESTAMPTZ, options VARCHAR(65535), schema_name VARCHAR(65535));

CREATE TABLE IF NOT EXISTS dynashift.columns (table_name VARCHAR(65535), attribute_name VARCHAR(65535), column_name VARCHAR(65535), types_seen VARCHAR(65535), is_key BOOLEAN, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ, column_type VARCHAR(65535), variant_column VARCHAR(65535), type_changes VARCHAR(65535));

CREATE TABLE IF NOT EXISTS dynashift.checkpoints (source VARCHAR(65535), shard VARCHAR(65535), position VARCHAR(65535), size BIGINT, updated_at TIMESTAMPTZ, pipeline VARCHAR(65535));

CREATE TABLE IF NOT EXISTS dynashift.runs (run_id BIGINT, source VARCHAR(65535), started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ, status VARCHAR(65535), records_read BIGINT, changes_applied BIGINT, superseded BIGINT, duplicates_skipped BIGINT, stale_skipped BIGINT, ttl_ignored BIGINT, rejected BIGINT, tables_created BIGINT, columns_added BIGINT, batches BIGINT, bytes_read BIGINT, error VARCHAR(65535), pipeline VARCHAR(65535), worker VARCHAR(65535), commits_refused BIGINT);

CREATE TABLE IF NOT EXISTS dynashift.pipelines (pipeline VARCHAR(65535), source VARCHAR(65535), schema_name VARCHAR(65535), filters VARCHAR(65535), created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);

CREATE TABLE IF NOT EXISTS dynashift.leases (pipeline VARCHAR(65535), shard VARCHAR(65535), owner VARCHAR(65535), counter BIGINT, heartbeat TIMESTAMPTZ, expires_at TIMESTAMPTZ, taken_at TIMESTAMPTZ);

CREATE TABLE IF NOT EXISTS dynashift.workers (pipeline VARCHAR(65535), owner VARCHAR(65535), host VARCHAR(65535), pid BIGINT, started_at TIMESTAMPTZ, heartbeat TIMESTAMPTZ, expires_at TIMESTAMPTZ, shards BIGINT);

CREATE TABLE IF NOT EXISTS dynashift.versions (table_name VARCHAR(65535), dist_key VARCHAR(65535), version_us BIGINT, seq VARCHAR(65535), event_id VARCHAR(65535), deleted BOOLEAN, written_at TIMESTAMPTZ, values_version_us BIGINT, values_seq VARCHAR(65535));

CREATE OR REPLACE VIEW dynashift.tombstones AS SELECT table_name, dist_key, version_us, seq, event_id, written_at FROM dynashift.versions WHERE deleted;

CREATE TABLE IF NOT EXISTS dynashift.rejected (rejected_at TIMESTAMPTZ, run_id BIGINT, source VARCHAR(65535), position VARCHAR(65535), reason VARCHAR(65535), "raw" VARCHAR(65535));

CREATE TABLE IF NOT EXISTS dynashift.batches (run_id BIGINT, batch BIGINT, applied_at TIMESTAMPTZ, records BIGINT, applied BIGINT, skipped BIGINT, rejected BIGINT, bytes BIGINT, seconds DOUBLE PRECISION, lag_ms BIGINT, tables VARCHAR(65535));

SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'dynashift';

COMMIT;

BEGIN;

CREATE TABLE IF NOT EXISTS dynashift.change_log (table_name VARCHAR(65535), dist_key VARCHAR(65535), op VARCHAR(65535), version_us BIGINT, seq VARCHAR(65535), event_id VARCHAR(65535), applied_at TIMESTAMPTZ);

COMMIT;

SELECT source, schema_name, filters FROM dynashift.pipelines WHERE pipeline = %s;

SELECT count(*) FROM dynashift.checkpoints WHERE pipeline = %s;

BEGIN;

LOCK dynashift.tables;

DELETE FROM dynashift.pipelines WHERE pipeline = %s;

INSERT INTO dynashift.pipelines VALUES (%s, %s, %s, %s, SYSDATE, SYSDATE);

COMMIT;

SELECT count(*) FROM information_schema.columns WHERE table_schema = 'dynashift' AND table_name = %s AND column_name = %s;

SELECT table_name, schema_name FROM dynashift.tables WHERE schema_name IS NOT NULL;

SELECT table_name, source_table, key_attributes, options FROM dynashift.tables;

SELECT table_name, attribute_name, column_name, types_seen, column_type, variant_column FROM dynashift.columns;

BEGIN;

LOCK dynashift.tables;

UPDATE dynashift.runs SET status = 'interrupted', ended_at = SYSDATE WHERE status = 'running' AND coalesce(pipeline, source) = %s AND (worker IS NULL OR worker NOT IN (SELECT owner FROM dynashift.workers WHERE pipeline = %s AND expires_at > SYSDATE AND owner <> %s));

DELETE FROM dynashift.batches WHERE applied_at < DATEADD(second, -CAST(%s AS INTEGER), SYSDATE);

SELECT coalesce(max(run_id), 0) FROM dynashift.runs;

INSERT INTO dynashift.runs (run_id, source, started_at, status, records_read, changes_applied, superseded, duplicates_skipped, stale_skipped, ttl_ignored, rejected, tables_created, columns_added, batches, bytes_read, pipeline, worker, commits_refused) VALUES (%s, %s, SYSDATE, 'running', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, %s, %s, 0);

COMMIT;

BEGIN;

SELECT count(*) FROM dynashift.versions WHERE deleted AND written_at < DATEADD(second, -CAST(%s AS INTEGER), SYSDATE);

COMMIT;

SELECT source, shard, position, size FROM dynashift.checkpoints WHERE pipeline = %s;

BEGIN;

LOCK dynashift.tables;

SELECT table_name FROM dynashift.tables WHERE table_name IN (%s, %s);

SELECT table_name, attribute_name FROM dynashift.columns WHERE table_name IN (%s, %s);

SELECT table_name, options FROM dynashift.tables WHERE table_name IN (%s, %s);

CREATE TABLE "public"."orders" ("dist_key" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_synced_at" TIMESTAMPTZ, "_dynashift_deleted" BOOLEAN, "pk" VARCHAR(65535), "n" VARCHAR(65535), "Name" VARCHAR(65535), "name__2" VARCHAR(65535), "s" VARCHAR(65535)) DISTKEY("dist_key") SORTKEY("dist_key");

INSERT INTO dynashift.tables (table_name, source_table, key_attributes, created_at, options, schema_name) VALUES (%s, %s, %s, SYSDATE, %s, %s);

INSERT INTO dynashift.columns (table_name, attribute_name, column_name, types_seen, is_key, first_seen, last_seen, column_type) VALUES (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s);

CREATE TABLE "public"."customers" ("dist_key" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_synced_at" TIMESTAMPTZ, "_dynashift_deleted" BOOLEAN, "pk" VARCHAR(65535), "v" VARCHAR(65535)) DISTKEY("dist_key") SORTKEY("dist_key");

INSERT INTO dynashift.tables (table_name, source_table, key_attributes, created_at, options, schema_name) VALUES (%s, %s, %s, SYSDATE, %s, %s);

INSERT INTO dynashift.columns (table_name, attribute_name, column_name, types_seen, is_key, first_seen, last_seen, column_type) VALUES (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s);

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "pk" VARCHAR(65535), "n" VARCHAR(65535), "Name" VARCHAR(65535), "name__2" VARCHAR(65535), "s" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "pk", "n", "Name", "name__2", "s") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s), (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s), (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

DELETE FROM "public"."orders" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."orders" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "n", "Name", "name__2", "s") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", s."n", s."Name", s."name__2", s."s" FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

INSERT INTO dynashift.versions SELECT %s, "dist_key", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_op" <> 'U', SYSDATE, NULL, NULL FROM _dynashift_winners WHERE _vrow IS NULL;

INSERT INTO dynashift.change_log SELECT %s, "dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", SYSDATE FROM _dynashift_winners;

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "pk" VARCHAR(65535), "v" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "pk", "v") VALUES (%s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

DELETE FROM "public"."customers" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."customers" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "v") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", s."v" FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

INSERT INTO dynashift.versions SELECT %s, "dist_key", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_op" <> 'U', SYSDATE, NULL, NULL FROM _dynashift_winners WHERE _vrow IS NULL;

INSERT INTO dynashift.change_log SELECT %s, "dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", SYSDATE FROM _dynashift_winners;

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s, %s, %s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s, %s, %s, %s);

UPDATE dynashift.columns SET types_seen = CASE attribute_name WHEN %s THEN %s WHEN %s THEN %s WHEN %s THEN %s WHEN %s THEN %s WHEN %s THEN %s END WHERE table_name = %s AND attribute_name IN (%s, %s, %s, %s, %s);

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s);

UPDATE dynashift.columns SET types_seen = CASE attribute_name WHEN %s THEN %s WHEN %s THEN %s END WHERE table_name = %s AND attribute_name IN (%s, %s);

CREATE TEMP TABLE "_dynashift_rejected" ("run_id" BIGINT, "source" VARCHAR(65535), "position" VARCHAR(65535), "reason" VARCHAR(65535), "raw" VARCHAR(65535));

INSERT INTO "_dynashift_rejected" ("run_id", "source", "position", "reason", "raw") VALUES (%s, %s, %s, %s, %s), (%s, %s, %s, %s, %s);

INSERT INTO dynashift.rejected (rejected_at, run_id, source, position, reason, "raw") SELECT SYSDATE, run_id, source, position, reason, "raw" FROM "_dynashift_rejected";

DROP TABLE IF EXISTS "_dynashift_rejected";

DELETE FROM dynashift.checkpoints WHERE pipeline = %s AND shard = %s;

INSERT INTO dynashift.checkpoints (source, shard, position, size, updated_at, pipeline) VALUES (%s, %s, %s, %s, SYSDATE, %s);

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s WHERE run_id = %s;

INSERT INTO dynashift.batches VALUES (%s, %s, SYSDATE, %s, %s, %s, %s, %s, %s, %s, %s);

COMMIT;

BEGIN;

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s, status = %s, error = %s, ended_at = SYSDATE WHERE run_id = %s;

COMMIT;

SELECT source, schema_name, filters FROM dynashift.pipelines WHERE pipeline = %s;

SELECT count(*) FROM dynashift.checkpoints WHERE pipeline = %s;

BEGIN;

LOCK dynashift.tables;

DELETE FROM dynashift.pipelines WHERE pipeline = %s;

INSERT INTO dynashift.pipelines VALUES (%s, %s, %s, %s, SYSDATE, SYSDATE);

COMMIT;

SELECT count(*) FROM information_schema.columns WHERE table_schema = 'dynashift' AND table_name = %s AND column_name = %s;

SELECT table_name, schema_name FROM dynashift.tables WHERE schema_name IS NOT NULL;

SELECT table_name, source_table, key_attributes, options FROM dynashift.tables;

SELECT table_name, attribute_name, column_name, types_seen, column_type, variant_column FROM dynashift.columns;

BEGIN;

LOCK dynashift.tables;

UPDATE dynashift.runs SET status = 'interrupted', ended_at = SYSDATE WHERE status = 'running' AND coalesce(pipeline, source) = %s AND (worker IS NULL OR worker NOT IN (SELECT owner FROM dynashift.workers WHERE pipeline = %s AND expires_at > SYSDATE AND owner <> %s));

DELETE FROM dynashift.batches WHERE applied_at < DATEADD(second, -CAST(%s AS INTEGER), SYSDATE);

SELECT coalesce(max(run_id), 0) FROM dynashift.runs;

INSERT INTO dynashift.runs (run_id, source, started_at, status, records_read, changes_applied, superseded, duplicates_skipped, stale_skipped, ttl_ignored, rejected, tables_created, columns_added, batches, bytes_read, pipeline, worker, commits_refused) VALUES (%s, %s, SYSDATE, 'running', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, %s, %s, 0);

COMMIT;

BEGIN;

SELECT count(*) FROM dynashift.versions WHERE deleted AND written_at < DATEADD(second, -CAST(%s AS INTEGER), SYSDATE);

DELETE FROM dynashift.versions WHERE deleted AND written_at < DATEADD(second, -CAST(%s AS INTEGER), SYSDATE);

COMMIT;

SELECT source, shard, position, size FROM dynashift.checkpoints WHERE pipeline = %s;

BEGIN;

LOCK dynashift.tables;

CREATE VIEW "public"."orders_live" AS SELECT * FROM "public"."orders" WHERE NOT "_dynashift_deleted" WITH NO SCHEMA BINDING;

SELECT options FROM dynashift.tables WHERE table_name = %s;

UPDATE dynashift.tables SET options = %s WHERE table_name = %s;

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_values_version" BIGINT, "_dynashift_values_seq" VARCHAR(65535), "pk" VARCHAR(65535), "n" VARCHAR(65535), "Name" VARCHAR(65535), "name__2" VARCHAR(65535), "s" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "_dynashift_values_version", "_dynashift_values_seq", "pk", "n", "Name", "name__2", "s") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

DELETE FROM _dynashift_winners WHERE _verdict <> 'W';

DROP TABLE IF EXISTS _dynashift_late;

CREATE TEMP TABLE _dynashift_late AS SELECT s.*, t."_dynashift_changed_at" AS _removed_at FROM "_dynashift_stage" s JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key" JOIN "public"."orders" t ON t."dist_key" = s."dist_key" AND t."_dynashift_deleted" WHERE s."_dynashift_op" = 'U' AND v.deleted AND NOT (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) AND (v.values_version_us IS NULL OR s."_dynashift_version" > v.values_version_us OR (s."_dynashift_version" = v.values_version_us AND s."_dynashift_seq" > v.values_seq));

SELECT count(*) FROM _dynashift_late;

DROP TABLE IF EXISTS _dynashift_late;

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s);

DELETE FROM dynashift.checkpoints WHERE pipeline = %s AND shard = %s;

INSERT INTO dynashift.checkpoints (source, shard, position, size, updated_at, pipeline) VALUES (%s, %s, %s, %s, SYSDATE, %s);

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s WHERE run_id = %s;

INSERT INTO dynashift.batches VALUES (%s, %s, SYSDATE, %s, %s, %s, %s, %s, %s, %s, %s);

COMMIT;

BEGIN;

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_values_version" BIGINT, "_dynashift_values_seq" VARCHAR(65535), "pk" VARCHAR(65535), "n" VARCHAR(65535), "Name" VARCHAR(65535), "name__2" VARCHAR(65535), "s" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "_dynashift_values_version", "_dynashift_values_seq", "pk", "n", "Name", "name__2", "s") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

UPDATE dynashift.versions SET version_us = w."_dynashift_version", seq = w."_dynashift_seq", event_id = CASE WHEN w._verdict = 'W' THEN w."_dynashift_event_id" ELSE event_id END, deleted = CASE WHEN w._verdict = 'W' THEN w."_dynashift_op" <> 'U' ELSE deleted END, written_at = CASE WHEN w._verdict = 'W' THEN SYSDATE ELSE written_at END, values_version_us = CASE WHEN w._verdict = 'W' THEN CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_version" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END END ELSE values_version_us END, values_seq = CASE WHEN w._verdict = 'W' THEN CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_seq" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END END ELSE values_seq END FROM _dynashift_winners w WHERE dynashift.versions.table_name = %s AND dynashift.versions.dist_key = w._vrow AND (w._verdict = 'W' OR (w._verdict = 'D' AND w."_dynashift_seq" > dynashift.versions.seq));

DELETE FROM _dynashift_winners WHERE _verdict <> 'W';

DROP TABLE IF EXISTS _dynashift_late;

CREATE TEMP TABLE _dynashift_late AS SELECT s.*, t."_dynashift_changed_at" AS _removed_at FROM "_dynashift_stage" s JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key" JOIN "public"."orders" t ON t."dist_key" = s."dist_key" AND t."_dynashift_deleted" WHERE s."_dynashift_op" = 'U' AND v.deleted AND NOT (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) AND (v.values_version_us IS NULL OR s."_dynashift_version" > v.values_version_us OR (s."_dynashift_version" = v.values_version_us AND s."_dynashift_seq" > v.values_seq));

SELECT count(*) FROM _dynashift_late;

DROP TABLE IF EXISTS _dynashift_late;

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s, %s);

DELETE FROM dynashift.checkpoints WHERE pipeline = %s AND shard = %s;

INSERT INTO dynashift.checkpoints (source, shard, position, size, updated_at, pipeline) VALUES (%s, %s, %s, %s, SYSDATE, %s);

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s WHERE run_id = %s;

INSERT INTO dynashift.batches VALUES (%s, %s, SYSDATE, %s, %s, %s, %s, %s, %s, %s, %s);

COMMIT;

BEGIN;

LOCK dynashift.tables;

SELECT table_name FROM dynashift.tables WHERE table_name IN (%s);

SELECT table_name, attribute_name FROM dynashift.columns WHERE table_name IN (%s);

SELECT table_name, options FROM dynashift.tables WHERE table_name IN (%s);

DROP VIEW IF EXISTS "public"."orders_live";

ALTER TABLE "public"."orders" ADD COLUMN "new" VARCHAR(65535);

INSERT INTO dynashift.columns (table_name, attribute_name, column_name, types_seen, is_key, first_seen, last_seen, column_type) VALUES (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s);

CREATE VIEW "public"."orders_live" AS SELECT * FROM "public"."orders" WHERE NOT "_dynashift_deleted" WITH NO SCHEMA BINDING;

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_values_version" BIGINT, "_dynashift_values_seq" VARCHAR(65535), "pk" VARCHAR(65535), "n" VARCHAR(65535), "Name" VARCHAR(65535), "name__2" VARCHAR(65535), "s" VARCHAR(65535), "new" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "_dynashift_values_version", "_dynashift_values_seq", "pk", "n", "Name", "name__2", "s", "new") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

UPDATE _dynashift_winners SET "_dynashift_op" = 'S' WHERE "_dynashift_op" = 'V' AND CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END IS NOT NULL AND (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END > "_dynashift_values_version" OR (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END = "_dynashift_values_version" AND CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END > "_dynashift_values_seq"));

UPDATE dynashift.versions SET version_us = w."_dynashift_version", seq = w."_dynashift_seq", event_id = CASE WHEN w._verdict = 'W' THEN w."_dynashift_event_id" ELSE event_id END, deleted = CASE WHEN w._verdict = 'W' THEN w."_dynashift_op" <> 'U' ELSE deleted END, written_at = CASE WHEN w._verdict = 'W' THEN SYSDATE ELSE written_at END, values_version_us = CASE WHEN w._verdict = 'W' THEN CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_version" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END END ELSE values_version_us END, values_seq = CASE WHEN w._verdict = 'W' THEN CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_seq" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END END ELSE values_seq END FROM _dynashift_winners w WHERE dynashift.versions.table_name = %s AND dynashift.versions.dist_key = w._vrow AND (w._verdict = 'W' OR (w._verdict = 'D' AND w."_dynashift_seq" > dynashift.versions.seq));

DELETE FROM "public"."orders" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."orders" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "n", "Name", "name__2", "s", "new") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", s."n", s."Name", s."name__2", s."s", s."new" FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

SELECT count(*) FROM _dynashift_winners WHERE "_dynashift_op" = 'S';

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s, %s);

UPDATE dynashift.columns SET types_seen = CASE attribute_name WHEN %s THEN %s END WHERE table_name = %s AND attribute_name IN (%s);

DELETE FROM dynashift.checkpoints WHERE pipeline = %s AND shard = %s;

INSERT INTO dynashift.checkpoints (source, shard, position, size, updated_at, pipeline) VALUES (%s, %s, %s, %s, SYSDATE, %s);

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s WHERE run_id = %s;

INSERT INTO dynashift.batches VALUES (%s, %s, SYSDATE, %s, %s, %s, %s, %s, %s, %s, %s);

COMMIT;

BEGIN;

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_values_version" BIGINT, "_dynashift_values_seq" VARCHAR(65535), "pk" VARCHAR(65535), "n" VARCHAR(65535), "Name" VARCHAR(65535), "name__2" VARCHAR(65535), "s" VARCHAR(65535), "new" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "_dynashift_values_version", "_dynashift_values_seq", "pk", "n", "Name", "name__2", "s", "new") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

UPDATE _dynashift_winners SET "_dynashift_op" = 'S' WHERE "_dynashift_op" = 'V' AND CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END IS NOT NULL AND (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END > "_dynashift_values_version" OR (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END = "_dynashift_values_version" AND CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END > "_dynashift_values_seq"));

UPDATE dynashift.versions SET version_us = w."_dynashift_version", seq = w."_dynashift_seq", event_id = CASE WHEN w._verdict = 'W' THEN w."_dynashift_event_id" ELSE event_id END, deleted = CASE WHEN w._verdict = 'W' THEN w."_dynashift_op" <> 'U' ELSE deleted END, written_at = CASE WHEN w._verdict = 'W' THEN SYSDATE ELSE written_at END, values_version_us = CASE WHEN w._verdict = 'W' THEN CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_version" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END END ELSE values_version_us END, values_seq = CASE WHEN w._verdict = 'W' THEN CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_seq" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END END ELSE values_seq END FROM _dynashift_winners w WHERE dynashift.versions.table_name = %s AND dynashift.versions.dist_key = w._vrow AND (w._verdict = 'W' OR (w._verdict = 'D' AND w."_dynashift_seq" > dynashift.versions.seq));

DELETE FROM "public"."orders" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."orders" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "n", "Name", "name__2", "s", "new") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", s."n", s."Name", s."name__2", s."s", s."new" FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

SELECT count(*) FROM _dynashift_winners WHERE "_dynashift_op" = 'S';

UPDATE "public"."orders" SET "_dynashift_deleted" = true, "_dynashift_changed_at" = w."_dynashift_changed_at", "_dynashift_synced_at" = SYSDATE FROM _dynashift_winners w WHERE "public"."orders"."dist_key" = w."dist_key" AND w."_dynashift_op" = 'S';

INSERT INTO "public"."orders" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "n", "Name", "name__2", "s", "new") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, true, s."pk", s."n", s."Name", s."name__2", s."s", s."new" FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" = 'S' AND NOT EXISTS (SELECT 1 FROM "public"."orders" t WHERE t."dist_key" = s."dist_key");

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s);

DELETE FROM dynashift.checkpoints WHERE pipeline = %s AND shard = %s;

INSERT INTO dynashift.checkpoints (source, shard, position, size, updated_at, pipeline) VALUES (%s, %s, %s, %s, SYSDATE, %s);

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s WHERE run_id = %s;

INSERT INTO dynashift.batches VALUES (%s, %s, SYSDATE, %s, %s, %s, %s, %s, %s, %s, %s);

COMMIT;

BEGIN;

LOCK dynashift.tables;

CREATE VIEW "public"."customers_live" AS SELECT * FROM "public"."customers" WHERE NOT "_dynashift_deleted" WITH NO SCHEMA BINDING;

SELECT options FROM dynashift.tables WHERE table_name = %s;

UPDATE dynashift.tables SET options = %s WHERE table_name = %s;

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_values_version" BIGINT, "_dynashift_values_seq" VARCHAR(65535), "pk" VARCHAR(65535), "v" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "_dynashift_values_version", "_dynashift_values_seq", "pk", "v") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

UPDATE _dynashift_winners SET "_dynashift_op" = 'S' WHERE "_dynashift_op" = 'V' AND CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END IS NOT NULL AND (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END > "_dynashift_values_version" OR (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END = "_dynashift_values_version" AND CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END > "_dynashift_values_seq"));

UPDATE dynashift.versions SET version_us = w."_dynashift_version", seq = w."_dynashift_seq", event_id = CASE WHEN w._verdict = 'W' THEN w."_dynashift_event_id" ELSE event_id END, deleted = CASE WHEN w._verdict = 'W' THEN w."_dynashift_op" <> 'U' ELSE deleted END, written_at = CASE WHEN w._verdict = 'W' THEN SYSDATE ELSE written_at END, values_version_us = CASE WHEN w._verdict = 'W' THEN CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_version" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END END ELSE values_version_us END, values_seq = CASE WHEN w._verdict = 'W' THEN CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_seq" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END END ELSE values_seq END FROM _dynashift_winners w WHERE dynashift.versions.table_name = %s AND dynashift.versions.dist_key = w._vrow AND (w._verdict = 'W' OR (w._verdict = 'D' AND w."_dynashift_seq" > dynashift.versions.seq));

DELETE FROM "public"."customers" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."customers" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "v") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", s."v" FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

SELECT count(*) FROM _dynashift_winners WHERE "_dynashift_op" = 'S';

UPDATE "public"."customers" SET "_dynashift_deleted" = true, "_dynashift_changed_at" = w."_dynashift_changed_at", "_dynashift_synced_at" = SYSDATE FROM _dynashift_winners w WHERE "public"."customers"."dist_key" = w."dist_key" AND w."_dynashift_op" = 'S';

INSERT INTO "public"."customers" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "v") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, true, s."pk", s."v" FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" = 'S' AND NOT EXISTS (SELECT 1 FROM "public"."customers" t WHERE t."dist_key" = s."dist_key");

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s);

DELETE FROM dynashift.checkpoints WHERE pipeline = %s AND shard = %s;

INSERT INTO dynashift.checkpoints (source, shard, position, size, updated_at, pipeline) VALUES (%s, %s, %s, %s, SYSDATE, %s);

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s WHERE run_id = %s;

INSERT INTO dynashift.batches VALUES (%s, %s, SYSDATE, %s, %s, %s, %s, %s, %s, %s, %s);

COMMIT;

BEGIN;

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s, status = %s, error = %s, ended_at = SYSDATE WHERE run_id = %s;

COMMIT;

SELECT table_name, source_table FROM dynashift.tables ORDER BY table_name;

SELECT count(*), max("_dynashift_changed_at"), max("_dynashift_synced_at") FROM "public"."customers";

SELECT count(*) FROM dynashift.columns WHERE table_name = %s;

SELECT count(*), max("_dynashift_changed_at"), max("_dynashift_synced_at") FROM "public"."orders";

SELECT count(*) FROM dynashift.columns WHERE table_name = %s;

SELECT count(*) FROM information_schema.columns WHERE table_schema = 'dynashift' AND table_name = %s AND column_name = %s;

SELECT source, shard, position, size, updated_at, pipeline FROM dynashift.checkpoints ORDER BY pipeline, source, shard;

SELECT run_id, source, started_at, ended_at, status, records_read, changes_applied, superseded, duplicates_skipped, stale_skipped, ttl_ignored, rejected, tables_created, columns_added, batches, bytes_read, error, pipeline, worker, commits_refused FROM dynashift.runs ORDER BY run_id DESC LIMIT 10;

SELECT count(*) FROM information_schema.tables WHERE table_schema = 'dynashift' AND table_name IN ('pipelines', 'workers', 'leases');

SELECT pipeline, source, schema_name, filters FROM dynashift.pipelines ORDER BY pipeline;

SELECT pipeline, owner, host, pid, started_at, heartbeat, expires_at > SYSDATE, shards FROM dynashift.workers ORDER BY pipeline, started_at, owner;

SELECT pipeline, shard, owner, counter, heartbeat, expires_at > SYSDATE FROM dynashift.leases ORDER BY pipeline, shard;

SELECT count(*) FROM dynashift.rejected;

SELECT run_id, batch, applied_at, records, applied, seconds, lag_ms FROM dynashift.batches ORDER BY applied_at DESC, run_id DESC, batch DESC LIMIT 1;

