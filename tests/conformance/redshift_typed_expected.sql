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

SELECT table_name FROM dynashift.tables WHERE table_name IN (%s, %s, %s);

SELECT table_name, attribute_name FROM dynashift.columns WHERE table_name IN (%s, %s, %s);

SELECT table_name, options FROM dynashift.tables WHERE table_name IN (%s, %s);

CREATE TABLE "public"."orders" ("dist_key" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_synced_at" TIMESTAMPTZ, "_dynashift_deleted" BOOLEAN) DISTKEY("dist_key") SORTKEY("dist_key");

ALTER TABLE "public"."orders" ADD COLUMN "_dynashift_item" SUPER;

INSERT INTO dynashift.tables (table_name, source_table, key_attributes, created_at, options, schema_name) VALUES (%s, %s, %s, SYSDATE, %s, %s);

CREATE VIEW "public"."orders_live" AS SELECT * FROM "public"."orders" WHERE NOT "_dynashift_deleted" WITH NO SCHEMA BINDING;

SELECT options FROM dynashift.tables WHERE table_name = %s;

UPDATE dynashift.tables SET options = %s WHERE table_name = %s;

ALTER TABLE "public"."orders" ADD COLUMN "pk" VARCHAR(65535);

ALTER TABLE "public"."orders" ADD COLUMN "n" DECIMAL(38,0);

ALTER TABLE "public"."orders" ADD COLUMN "ok" BOOLEAN;

ALTER TABLE "public"."orders" ADD COLUMN "b" VARBYTE(1024000);

ALTER TABLE "public"."orders" ADD COLUMN "m" SUPER;

INSERT INTO dynashift.columns (table_name, attribute_name, column_name, types_seen, is_key, first_seen, last_seen, column_type) VALUES (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s);

CREATE TABLE "public"."ledger" ("dist_key" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_synced_at" TIMESTAMPTZ, "_dynashift_deleted" BOOLEAN) DISTKEY("dist_key") SORTKEY("dist_key");

ALTER TABLE "public"."ledger" ADD COLUMN "_dynashift_item" SUPER;

CREATE TABLE "public"."ledger__history" ("dist_key" VARCHAR(65535), "_dynashift_valid_from" TIMESTAMPTZ, "_dynashift_valid_to" TIMESTAMPTZ, "_dynashift_op" VARCHAR(65535), "_dynashift_ttl" BOOLEAN, "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_synced_at" TIMESTAMPTZ, "_dynashift_item" SUPER) DISTKEY("dist_key") SORTKEY("dist_key");

INSERT INTO dynashift.tables (table_name, source_table, key_attributes, created_at, options, schema_name) VALUES (%s, %s, %s, SYSDATE, %s, %s);

CREATE VIEW "public"."ledger_live" AS SELECT * FROM "public"."ledger" WHERE NOT "_dynashift_deleted" WITH NO SCHEMA BINDING;

SELECT options FROM dynashift.tables WHERE table_name = %s;

UPDATE dynashift.tables SET options = %s WHERE table_name = %s;

ALTER TABLE "public"."ledger" ADD COLUMN "pk" VARCHAR(65535);

ALTER TABLE "public"."ledger" ADD COLUMN "v" DECIMAL(38,0);

ALTER TABLE "public"."ledger__history" ADD COLUMN "pk" VARCHAR(65535);

ALTER TABLE "public"."ledger__history" ADD COLUMN "v" DECIMAL(38,0);

INSERT INTO dynashift.columns (table_name, attribute_name, column_name, types_seen, is_key, first_seen, last_seen, column_type) VALUES (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s);

CREATE TABLE "public"."events__history" ("dist_key" VARCHAR(65535), "_dynashift_valid_from" TIMESTAMPTZ, "_dynashift_valid_to" TIMESTAMPTZ, "_dynashift_op" VARCHAR(65535), "_dynashift_ttl" BOOLEAN, "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_synced_at" TIMESTAMPTZ, "_dynashift_item" SUPER) DISTKEY("dist_key") SORTKEY("dist_key");

CREATE VIEW "public"."events" AS SELECT h.*, h."_dynashift_valid_from" AS "_dynashift_changed_at", false AS "_dynashift_deleted" FROM "public"."events__history" h WHERE h."_dynashift_valid_to" IS NULL AND h."_dynashift_op" <> 'REMOVE';

INSERT INTO dynashift.tables (table_name, source_table, key_attributes, created_at, options, schema_name) VALUES (%s, %s, %s, SYSDATE, %s, %s);

ALTER TABLE "public"."events__history" ADD COLUMN "pk" VARCHAR(65535);

ALTER TABLE "public"."events__history" ADD COLUMN "v" VARCHAR(65535);

INSERT INTO dynashift.columns (table_name, attribute_name, column_name, types_seen, is_key, first_seen, last_seen, column_type) VALUES (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s);

DROP VIEW IF EXISTS "public"."events";

CREATE VIEW "public"."events" AS SELECT h.*, h."_dynashift_valid_from" AS "_dynashift_changed_at", false AS "_dynashift_deleted" FROM "public"."events__history" h WHERE h."_dynashift_valid_to" IS NULL AND h."_dynashift_op" <> 'REMOVE';

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_values_version" BIGINT, "_dynashift_values_seq" VARCHAR(65535), "pk" VARCHAR(65535), "n" VARCHAR(65535), "ok" VARCHAR(65535), "b" VARCHAR(65535), "m" VARCHAR(65535), "_dynashift_item" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "_dynashift_values_version", "_dynashift_values_seq", "pk", "n", "ok", "b", "m", "_dynashift_item") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

UPDATE _dynashift_winners SET "_dynashift_op" = 'S' WHERE "_dynashift_op" = 'V' AND CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END IS NOT NULL AND (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END > "_dynashift_values_version" OR (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END = "_dynashift_values_version" AND CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END > "_dynashift_values_seq"));

DELETE FROM "public"."orders" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."orders" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "n", "ok", "b", "m", "_dynashift_item") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", CAST(s."n" AS DECIMAL(38,0)), (s."ok" = 'true'), TO_VARBYTE(s."b", 'base64'), JSON_PARSE(s."m"), JSON_PARSE(s."_dynashift_item") FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

SELECT count(*) FROM _dynashift_winners WHERE "_dynashift_op" = 'S';

INSERT INTO dynashift.versions SELECT %s, "dist_key", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_op" <> 'U', SYSDATE, CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_version" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END END, CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_seq" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END END FROM _dynashift_winners WHERE _vrow IS NULL;

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_values_version" BIGINT, "_dynashift_values_seq" VARCHAR(65535), "pk" VARCHAR(65535), "v" VARCHAR(65535), "_dynashift_item" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "_dynashift_values_version", "_dynashift_values_seq", "pk", "v", "_dynashift_item") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

UPDATE _dynashift_winners SET "_dynashift_op" = 'S' WHERE "_dynashift_op" = 'V' AND CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END IS NOT NULL AND (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END > "_dynashift_values_version" OR (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END = "_dynashift_values_version" AND CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END > "_dynashift_values_seq"));

DELETE FROM "public"."ledger" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."ledger" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "v", "_dynashift_item") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", CAST(s."v" AS DECIMAL(38,0)), JSON_PARSE(s."_dynashift_item") FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

SELECT count(*) FROM _dynashift_winners WHERE "_dynashift_op" = 'S';

INSERT INTO dynashift.versions SELECT %s, "dist_key", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_op" <> 'U', SYSDATE, CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_version" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END END, CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_seq" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END END FROM _dynashift_winners WHERE _vrow IS NULL;

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

CREATE TEMP TABLE "_dynashift_history_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_ttl" BOOLEAN, "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_valid_from" TIMESTAMPTZ, "pk" VARCHAR(65535), "v" VARCHAR(65535), "_dynashift_item" VARCHAR(65535));

INSERT INTO "_dynashift_history_stage" ("dist_key", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_valid_from", "pk", "v", "_dynashift_item") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

SELECT count(*) FROM "_dynashift_history_stage" s WHERE NOT EXISTS (SELECT 1 FROM "public"."ledger__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_seq" = s."_dynashift_seq") AND NOT EXISTS (SELECT 1 FROM "public"."ledger__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_event_id" = s."_dynashift_event_id" AND h."_dynashift_event_id" <> '');

INSERT INTO "public"."ledger__history" ("dist_key", "_dynashift_valid_from", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_valid_to", "_dynashift_synced_at", "pk", "v", "_dynashift_item") SELECT "dist_key", "_dynashift_valid_from", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", NULL, SYSDATE, s."pk", CAST("v" AS DECIMAL(38,0)), JSON_PARSE("_dynashift_item") FROM "_dynashift_history_stage" s WHERE NOT EXISTS (SELECT 1 FROM "public"."ledger__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_seq" = s."_dynashift_seq") AND NOT EXISTS (SELECT 1 FROM "public"."ledger__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_event_id" = s."_dynashift_event_id" AND h."_dynashift_event_id" <> '');

UPDATE "public"."ledger__history" SET "_dynashift_valid_to" = n.next_from FROM (SELECT "dist_key", "_dynashift_version", "_dynashift_seq", LEAD("_dynashift_valid_from") OVER (PARTITION BY "dist_key" ORDER BY "_dynashift_version", "_dynashift_seq") AS next_from FROM "public"."ledger__history" WHERE "dist_key" IN (SELECT "dist_key" FROM "_dynashift_history_stage")) n WHERE "public"."ledger__history"."dist_key" = n."dist_key" AND "public"."ledger__history"."_dynashift_version" = n."_dynashift_version" AND "public"."ledger__history"."_dynashift_seq" = n."_dynashift_seq";

DROP TABLE IF EXISTS "_dynashift_history_stage";

CREATE TEMP TABLE "_dynashift_history_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_ttl" BOOLEAN, "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_valid_from" TIMESTAMPTZ, "pk" VARCHAR(65535), "v" VARCHAR(65535), "_dynashift_item" VARCHAR(65535));

INSERT INTO "_dynashift_history_stage" ("dist_key", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_valid_from", "pk", "v", "_dynashift_item") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

SELECT count(*) FROM "_dynashift_history_stage" s WHERE NOT EXISTS (SELECT 1 FROM "public"."events__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_seq" = s."_dynashift_seq") AND NOT EXISTS (SELECT 1 FROM "public"."events__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_event_id" = s."_dynashift_event_id" AND h."_dynashift_event_id" <> '');

INSERT INTO "public"."events__history" ("dist_key", "_dynashift_valid_from", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_valid_to", "_dynashift_synced_at", "pk", "v", "_dynashift_item") SELECT "dist_key", "_dynashift_valid_from", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", NULL, SYSDATE, s."pk", s."v", JSON_PARSE("_dynashift_item") FROM "_dynashift_history_stage" s WHERE NOT EXISTS (SELECT 1 FROM "public"."events__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_seq" = s."_dynashift_seq") AND NOT EXISTS (SELECT 1 FROM "public"."events__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_event_id" = s."_dynashift_event_id" AND h."_dynashift_event_id" <> '');

UPDATE "public"."events__history" SET "_dynashift_valid_to" = n.next_from FROM (SELECT "dist_key", "_dynashift_version", "_dynashift_seq", LEAD("_dynashift_valid_from") OVER (PARTITION BY "dist_key" ORDER BY "_dynashift_version", "_dynashift_seq") AS next_from FROM "public"."events__history" WHERE "dist_key" IN (SELECT "dist_key" FROM "_dynashift_history_stage")) n WHERE "public"."events__history"."dist_key" = n."dist_key" AND "public"."events__history"."_dynashift_version" = n."_dynashift_version" AND "public"."events__history"."_dynashift_seq" = n."_dynashift_seq";

DROP TABLE IF EXISTS "_dynashift_history_stage";

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s, %s, %s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s, %s, %s, %s);

UPDATE dynashift.columns SET types_seen = CASE attribute_name WHEN %s THEN %s WHEN %s THEN %s WHEN %s THEN %s WHEN %s THEN %s WHEN %s THEN %s END WHERE table_name = %s AND attribute_name IN (%s, %s, %s, %s, %s);

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s);

UPDATE dynashift.columns SET types_seen = CASE attribute_name WHEN %s THEN %s WHEN %s THEN %s END WHERE table_name = %s AND attribute_name IN (%s, %s);

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s);

UPDATE dynashift.columns SET types_seen = CASE attribute_name WHEN %s THEN %s WHEN %s THEN %s END WHERE table_name = %s AND attribute_name IN (%s, %s);

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

COMMIT;

SELECT source, shard, position, size FROM dynashift.checkpoints WHERE pipeline = %s;

BEGIN;

LOCK dynashift.tables;

SELECT table_name FROM dynashift.tables WHERE table_name IN (%s);

SELECT table_name, attribute_name FROM dynashift.columns WHERE table_name IN (%s);

SELECT table_name, options FROM dynashift.tables WHERE table_name IN (%s, %s);

DROP VIEW IF EXISTS "public"."orders_live";

DROP VIEW IF EXISTS "public"."ledger_live";

ALTER TABLE "public"."orders" ADD COLUMN "_dynashift_widening" DECIMAL(38,2);

UPDATE "public"."orders" SET "_dynashift_widening" = CAST("n" AS DECIMAL(38,2));

ALTER TABLE "public"."orders" DROP COLUMN "n";

ALTER TABLE "public"."orders" RENAME COLUMN "_dynashift_widening" TO "n";

SELECT type_changes FROM dynashift.columns WHERE table_name = %s AND attribute_name = %s;

UPDATE dynashift.columns SET type_changes = %s, column_type = %s WHERE table_name = %s AND attribute_name = %s;

ALTER TABLE "public"."orders" ADD COLUMN "ok__s" VARCHAR(65535);

SELECT type_changes FROM dynashift.columns WHERE table_name = %s AND attribute_name = %s;

UPDATE dynashift.columns SET type_changes = %s, variant_column = %s WHERE table_name = %s AND attribute_name = %s;

ALTER TABLE "public"."ledger" ADD COLUMN "_dynashift_widening" DECIMAL(38,1);

UPDATE "public"."ledger" SET "_dynashift_widening" = CAST("v" AS DECIMAL(38,1));

ALTER TABLE "public"."ledger" DROP COLUMN "v";

ALTER TABLE "public"."ledger" RENAME COLUMN "_dynashift_widening" TO "v";

ALTER TABLE "public"."ledger__history" ADD COLUMN "_dynashift_widening" DECIMAL(38,1);

UPDATE "public"."ledger__history" SET "_dynashift_widening" = CAST("v" AS DECIMAL(38,1));

ALTER TABLE "public"."ledger__history" DROP COLUMN "v";

ALTER TABLE "public"."ledger__history" RENAME COLUMN "_dynashift_widening" TO "v";

SELECT type_changes FROM dynashift.columns WHERE table_name = %s AND attribute_name = %s;

UPDATE dynashift.columns SET type_changes = %s, column_type = %s WHERE table_name = %s AND attribute_name = %s;

ALTER TABLE "public"."events__history" ADD COLUMN "w" BOOLEAN;

INSERT INTO dynashift.columns (table_name, attribute_name, column_name, types_seen, is_key, first_seen, last_seen, column_type) VALUES (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s);

CREATE VIEW "public"."orders_live" AS SELECT * FROM "public"."orders" WHERE NOT "_dynashift_deleted" WITH NO SCHEMA BINDING;

CREATE VIEW "public"."ledger_live" AS SELECT * FROM "public"."ledger" WHERE NOT "_dynashift_deleted" WITH NO SCHEMA BINDING;

DROP VIEW IF EXISTS "public"."events";

CREATE VIEW "public"."events" AS SELECT h.*, h."_dynashift_valid_from" AS "_dynashift_changed_at", false AS "_dynashift_deleted" FROM "public"."events__history" h WHERE h."_dynashift_valid_to" IS NULL AND h."_dynashift_op" <> 'REMOVE';

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_values_version" BIGINT, "_dynashift_values_seq" VARCHAR(65535), "pk" VARCHAR(65535), "n" VARCHAR(65535), "ok" VARCHAR(65535), "ok__s" VARCHAR(65535), "b" VARCHAR(65535), "m" VARCHAR(65535), "_dynashift_item" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "_dynashift_values_version", "_dynashift_values_seq", "pk", "n", "ok", "ok__s", "b", "m", "_dynashift_item") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s), (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

UPDATE _dynashift_winners SET "_dynashift_op" = 'S' WHERE "_dynashift_op" = 'V' AND CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END IS NOT NULL AND (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END > "_dynashift_values_version" OR (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END = "_dynashift_values_version" AND CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END > "_dynashift_values_seq"));

DELETE FROM _dynashift_winners WHERE _verdict <> 'W';

DELETE FROM "public"."orders" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."orders" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "n", "ok", "ok__s", "b", "m", "_dynashift_item") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", CAST(s."n" AS DECIMAL(38,2)), (s."ok" = 'true'), s."ok__s", TO_VARBYTE(s."b", 'base64'), JSON_PARSE(s."m"), JSON_PARSE(s."_dynashift_item") FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

SELECT count(*) FROM _dynashift_winners WHERE "_dynashift_op" = 'S';

INSERT INTO dynashift.versions SELECT %s, "dist_key", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_op" <> 'U', SYSDATE, CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_version" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END END, CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_seq" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END END FROM _dynashift_winners WHERE _vrow IS NULL;

DROP TABLE IF EXISTS _dynashift_late;

CREATE TEMP TABLE _dynashift_late AS SELECT s.*, t."_dynashift_changed_at" AS _removed_at FROM "_dynashift_stage" s JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key" JOIN "public"."orders" t ON t."dist_key" = s."dist_key" AND t."_dynashift_deleted" WHERE s."_dynashift_op" = 'U' AND v.deleted AND NOT (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) AND (v.values_version_us IS NULL OR s."_dynashift_version" > v.values_version_us OR (s."_dynashift_version" = v.values_version_us AND s."_dynashift_seq" > v.values_seq));

SELECT count(*) FROM _dynashift_late;

DELETE FROM "public"."orders" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_late);

INSERT INTO "public"."orders" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "n", "ok", "ok__s", "b", "m", "_dynashift_item") SELECT s."dist_key", s._removed_at, SYSDATE, true, s."pk", CAST(s."n" AS DECIMAL(38,2)), (s."ok" = 'true'), s."ok__s", TO_VARBYTE(s."b", 'base64'), JSON_PARSE(s."m"), JSON_PARSE(s."_dynashift_item") FROM _dynashift_late s;

UPDATE dynashift.versions SET values_version_us = l."_dynashift_version", values_seq = l."_dynashift_seq" FROM _dynashift_late l WHERE dynashift.versions.table_name = %s AND dynashift.versions.dist_key = l."dist_key";

DROP TABLE IF EXISTS _dynashift_late;

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_values_version" BIGINT, "_dynashift_values_seq" VARCHAR(65535), "pk" VARCHAR(65535), "v" VARCHAR(65535), "_dynashift_item" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "_dynashift_values_version", "_dynashift_values_seq", "pk", "v", "_dynashift_item") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

UPDATE _dynashift_winners SET "_dynashift_op" = 'S' WHERE "_dynashift_op" = 'V' AND CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END IS NOT NULL AND (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END > "_dynashift_values_version" OR (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END = "_dynashift_values_version" AND CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END > "_dynashift_values_seq"));

UPDATE dynashift.versions SET version_us = w."_dynashift_version", seq = w."_dynashift_seq", event_id = CASE WHEN w._verdict = 'W' THEN w."_dynashift_event_id" ELSE event_id END, deleted = CASE WHEN w._verdict = 'W' THEN w."_dynashift_op" <> 'U' ELSE deleted END, written_at = CASE WHEN w._verdict = 'W' THEN SYSDATE ELSE written_at END, values_version_us = CASE WHEN w._verdict = 'W' THEN CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_version" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END END ELSE values_version_us END, values_seq = CASE WHEN w._verdict = 'W' THEN CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_seq" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END END ELSE values_seq END FROM _dynashift_winners w WHERE dynashift.versions.table_name = %s AND dynashift.versions.dist_key = w._vrow AND (w._verdict = 'W' OR (w._verdict = 'D' AND w."_dynashift_seq" > dynashift.versions.seq));

DELETE FROM "public"."ledger" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."ledger" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "v", "_dynashift_item") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", CAST(s."v" AS DECIMAL(38,1)), JSON_PARSE(s."_dynashift_item") FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

SELECT count(*) FROM _dynashift_winners WHERE "_dynashift_op" = 'S';

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

CREATE TEMP TABLE "_dynashift_history_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_ttl" BOOLEAN, "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_valid_from" TIMESTAMPTZ, "pk" VARCHAR(65535), "v" VARCHAR(65535), "_dynashift_item" VARCHAR(65535));

INSERT INTO "_dynashift_history_stage" ("dist_key", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_valid_from", "pk", "v", "_dynashift_item") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

SELECT count(*) FROM "_dynashift_history_stage" s WHERE NOT EXISTS (SELECT 1 FROM "public"."ledger__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_seq" = s."_dynashift_seq") AND NOT EXISTS (SELECT 1 FROM "public"."ledger__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_event_id" = s."_dynashift_event_id" AND h."_dynashift_event_id" <> '');

INSERT INTO "public"."ledger__history" ("dist_key", "_dynashift_valid_from", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_valid_to", "_dynashift_synced_at", "pk", "v", "_dynashift_item") SELECT "dist_key", "_dynashift_valid_from", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", NULL, SYSDATE, s."pk", CAST("v" AS DECIMAL(38,1)), JSON_PARSE("_dynashift_item") FROM "_dynashift_history_stage" s WHERE NOT EXISTS (SELECT 1 FROM "public"."ledger__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_seq" = s."_dynashift_seq") AND NOT EXISTS (SELECT 1 FROM "public"."ledger__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_event_id" = s."_dynashift_event_id" AND h."_dynashift_event_id" <> '');

UPDATE "public"."ledger__history" SET "_dynashift_valid_to" = n.next_from FROM (SELECT "dist_key", "_dynashift_version", "_dynashift_seq", LEAD("_dynashift_valid_from") OVER (PARTITION BY "dist_key" ORDER BY "_dynashift_version", "_dynashift_seq") AS next_from FROM "public"."ledger__history" WHERE "dist_key" IN (SELECT "dist_key" FROM "_dynashift_history_stage")) n WHERE "public"."ledger__history"."dist_key" = n."dist_key" AND "public"."ledger__history"."_dynashift_version" = n."_dynashift_version" AND "public"."ledger__history"."_dynashift_seq" = n."_dynashift_seq";

DROP TABLE IF EXISTS "_dynashift_history_stage";

CREATE TEMP TABLE "_dynashift_history_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_ttl" BOOLEAN, "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_valid_from" TIMESTAMPTZ, "pk" VARCHAR(65535), "v" VARCHAR(65535), "w" VARCHAR(65535), "_dynashift_item" VARCHAR(65535));

INSERT INTO "_dynashift_history_stage" ("dist_key", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_valid_from", "pk", "v", "w", "_dynashift_item") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

SELECT count(*) FROM "_dynashift_history_stage" s WHERE NOT EXISTS (SELECT 1 FROM "public"."events__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_seq" = s."_dynashift_seq") AND NOT EXISTS (SELECT 1 FROM "public"."events__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_event_id" = s."_dynashift_event_id" AND h."_dynashift_event_id" <> '');

INSERT INTO "public"."events__history" ("dist_key", "_dynashift_valid_from", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_valid_to", "_dynashift_synced_at", "pk", "v", "w", "_dynashift_item") SELECT "dist_key", "_dynashift_valid_from", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", NULL, SYSDATE, s."pk", s."v", ("w" = 'true'), JSON_PARSE("_dynashift_item") FROM "_dynashift_history_stage" s WHERE NOT EXISTS (SELECT 1 FROM "public"."events__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_seq" = s."_dynashift_seq") AND NOT EXISTS (SELECT 1 FROM "public"."events__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_event_id" = s."_dynashift_event_id" AND h."_dynashift_event_id" <> '');

UPDATE "public"."events__history" SET "_dynashift_valid_to" = n.next_from FROM (SELECT "dist_key", "_dynashift_version", "_dynashift_seq", LEAD("_dynashift_valid_from") OVER (PARTITION BY "dist_key" ORDER BY "_dynashift_version", "_dynashift_seq") AS next_from FROM "public"."events__history" WHERE "dist_key" IN (SELECT "dist_key" FROM "_dynashift_history_stage")) n WHERE "public"."events__history"."dist_key" = n."dist_key" AND "public"."events__history"."_dynashift_version" = n."_dynashift_version" AND "public"."events__history"."_dynashift_seq" = n."_dynashift_seq";

DROP TABLE IF EXISTS "_dynashift_history_stage";

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s, %s, %s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s, %s, %s, %s);

UPDATE dynashift.columns SET types_seen = CASE attribute_name WHEN %s THEN %s WHEN %s THEN %s END WHERE table_name = %s AND attribute_name IN (%s, %s);

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s);

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s, %s);

UPDATE dynashift.columns SET types_seen = CASE attribute_name WHEN %s THEN %s WHEN %s THEN %s END WHERE table_name = %s AND attribute_name IN (%s, %s);

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

COMMIT;

SELECT source, shard, position, size FROM dynashift.checkpoints WHERE pipeline = %s;

BEGIN;

LOCK dynashift.tables;

CREATE TABLE "public"."orders__history" ("dist_key" VARCHAR(65535), "_dynashift_valid_from" TIMESTAMPTZ, "_dynashift_valid_to" TIMESTAMPTZ, "_dynashift_op" VARCHAR(65535), "_dynashift_ttl" BOOLEAN, "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_synced_at" TIMESTAMPTZ, "pk" VARCHAR(65535), "b" VARBYTE(1024000), "n" DECIMAL(38,2), "m" SUPER, "ok" BOOLEAN, "ok__s" VARCHAR(65535), "_dynashift_item" SUPER) DISTKEY("dist_key") SORTKEY("dist_key");

SELECT options FROM dynashift.tables WHERE table_name = %s;

UPDATE dynashift.tables SET options = %s WHERE table_name = %s;

CREATE TEMP TABLE "_dynashift_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "pk" VARCHAR(65535), "n" VARCHAR(65535), "_dynashift_item" VARCHAR(65535));

INSERT INTO "_dynashift_stage" ("dist_key", "_dynashift_op", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_changed_at", "pk", "n", "_dynashift_item") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_stage" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

DELETE FROM "public"."orders" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."orders" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "n", "_dynashift_item") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", CAST(s."n" AS DECIMAL(38,2)), JSON_PARSE(s."_dynashift_item") FROM "_dynashift_stage" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

INSERT INTO dynashift.versions SELECT %s, "dist_key", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_op" <> 'U', SYSDATE, NULL, NULL FROM _dynashift_winners WHERE _vrow IS NULL;

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_stage";

CREATE TEMP TABLE "_dynashift_history_stage" ("dist_key" VARCHAR(65535), "_dynashift_op" VARCHAR(65535), "_dynashift_ttl" BOOLEAN, "_dynashift_version" BIGINT, "_dynashift_seq" VARCHAR(65535), "_dynashift_event_id" VARCHAR(65535), "_dynashift_valid_from" TIMESTAMPTZ, "pk" VARCHAR(65535), "n" VARCHAR(65535), "_dynashift_item" VARCHAR(65535));

INSERT INTO "_dynashift_history_stage" ("dist_key", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_valid_from", "pk", "n", "_dynashift_item") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

SELECT count(*) FROM "_dynashift_history_stage" s WHERE NOT EXISTS (SELECT 1 FROM "public"."orders__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_seq" = s."_dynashift_seq") AND NOT EXISTS (SELECT 1 FROM "public"."orders__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_event_id" = s."_dynashift_event_id" AND h."_dynashift_event_id" <> '');

INSERT INTO "public"."orders__history" ("dist_key", "_dynashift_valid_from", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_valid_to", "_dynashift_synced_at", "pk", "n", "_dynashift_item") SELECT "dist_key", "_dynashift_valid_from", "_dynashift_op", "_dynashift_ttl", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", NULL, SYSDATE, s."pk", CAST("n" AS DECIMAL(38,2)), JSON_PARSE("_dynashift_item") FROM "_dynashift_history_stage" s WHERE NOT EXISTS (SELECT 1 FROM "public"."orders__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_seq" = s."_dynashift_seq") AND NOT EXISTS (SELECT 1 FROM "public"."orders__history" h WHERE h."dist_key" = s."dist_key" AND h."_dynashift_version" = s."_dynashift_version" AND h."_dynashift_event_id" = s."_dynashift_event_id" AND h."_dynashift_event_id" <> '');

UPDATE "public"."orders__history" SET "_dynashift_valid_to" = n.next_from FROM (SELECT "dist_key", "_dynashift_version", "_dynashift_seq", LEAD("_dynashift_valid_from") OVER (PARTITION BY "dist_key" ORDER BY "_dynashift_version", "_dynashift_seq") AS next_from FROM "public"."orders__history" WHERE "dist_key" IN (SELECT "dist_key" FROM "_dynashift_history_stage")) n WHERE "public"."orders__history"."dist_key" = n."dist_key" AND "public"."orders__history"."_dynashift_version" = n."_dynashift_version" AND "public"."orders__history"."_dynashift_seq" = n."_dynashift_seq";

DROP TABLE IF EXISTS "_dynashift_history_stage";

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s);

DELETE FROM dynashift.checkpoints WHERE pipeline = %s AND shard = %s;

INSERT INTO dynashift.checkpoints (source, shard, position, size, updated_at, pipeline) VALUES (%s, %s, %s, %s, SYSDATE, %s);

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s WHERE run_id = %s;

INSERT INTO dynashift.batches VALUES (%s, %s, SYSDATE, %s, %s, %s, %s, %s, %s, %s, %s);

COMMIT;

BEGIN;

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s, status = %s, error = %s, ended_at = SYSDATE WHERE run_id = %s;

COMMIT;

SELECT table_name, source_table, key_attributes, options FROM dynashift.tables WHERE table_name = %s OR source_table = %s ORDER BY table_name;

SELECT attribute_name, column_name, column_type, variant_column FROM dynashift.columns WHERE table_name = %s;

SELECT "dist_key", "_dynashift_changed_at", "_dynashift_deleted", "pk", NULL, "v", NULL, JSON_SERIALIZE("_dynashift_item") FROM "public"."ledger";

SELECT table_name, source_table, key_attributes, options FROM dynashift.tables WHERE table_name = %s OR source_table = %s ORDER BY table_name;

SELECT attribute_name, column_name, column_type, variant_column FROM dynashift.columns WHERE table_name = %s;

SELECT "dist_key" FROM "public"."ledger" WHERE NOT "_dynashift_deleted" OR "_dynashift_deleted" IS NULL ORDER BY random() LIMIT 1;

SELECT "dist_key", "_dynashift_changed_at", "_dynashift_deleted", "pk", NULL, "v", NULL, JSON_SERIALIZE("_dynashift_item") FROM "public"."ledger" WHERE "dist_key" IN (%s);

