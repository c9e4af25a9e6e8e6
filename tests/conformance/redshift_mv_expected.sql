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

UPDATE dynashift.checkpoints SET pipeline = source WHERE pipeline IS NULL;

UPDATE dynashift.runs SET pipeline = source, commits_refused = 0 WHERE pipeline IS NULL;

COMMIT;

SELECT count(*) FROM information_schema.columns WHERE table_schema = 'dynashift' AND table_name = %s AND column_name = %s;

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

BEGIN;

SELECT source, shard, position, size FROM dynashift.checkpoints WHERE pipeline = %s;

CREATE TEMP TABLE _dynashift_mv_batch AS SELECT shard_id, sequence_number, refresh_time, payload, unparsed FROM (SELECT v.shard_id, v.sequence_number, v.refresh_time, v.payload, v.unparsed, ROW_NUMBER() OVER (PARTITION BY v.shard_id ORDER BY LPAD(v.sequence_number, 64, '0')) AS n FROM "streams"."ddb_changes" v LEFT JOIN dynashift.checkpoints c ON c.source = %s AND c.shard = v.shard_id WHERE (c.position IS NULL OR LPAD(v.sequence_number, 64, '0') > LPAD(c.position, 64, '0'))) x WHERE n <= 1000;

CREATE TEMP TABLE _dynashift_mv_changes AS SELECT shard_id, sequence_number, shard_id || ':' || sequence_number AS position, shard_id || CHR(31) || LPAD(sequence_number, 64, '0') AS seq, source_table, op, event_id, ttl, keys, image, old_image, reason, payload, unparsed, CASE WHEN t IS NULL THEN 0 ELSE CAST(FLOOR(t * CASE WHEN prec LIKE 'MICRO%' THEN 1 WHEN prec LIKE 'MILLI%' THEN 1000 WHEN prec LIKE 'SEC%' THEN 1000000 WHEN ABS(t) < 100000000000 THEN 1000000 WHEN ABS(t) < 100000000000000 THEN 1000 ELSE 1 END) AS BIGINT) END AS version_us FROM (SELECT b.shard_id, b.sequence_number, b.payload, b.unparsed, b.payload.tableName::VARCHAR(255) AS source_table, b.payload.eventName::VARCHAR(16) AS op, NVL(b.payload.eventID::VARCHAR(128), '') AS event_id, NVL(b.payload.userIdentity.type::VARCHAR(32) = 'Service' AND b.payload.userIdentity.principalId::VARCHAR(64) = 'dynamodb.amazonaws.com', false) AS ttl, b.payload.dynamodb.Keys AS keys, b.payload.dynamodb.NewImage AS image, b.payload.dynamodb.OldImage AS old_image, CASE WHEN IS_VARCHAR(b.payload.dynamodb.ApproximateCreationDateTime) THEN b.payload.dynamodb.ApproximateCreationDateTime::VARCHAR(64)::DECIMAL(38,6) ELSE b.payload.dynamodb.ApproximateCreationDateTime::DECIMAL(38,6) END AS t, UPPER(b.payload.dynamodb.ApproximateCreationDateTimePrecision::VARCHAR(16)) AS prec, CASE WHEN b.payload IS NULL AND OCTET_LENGTH(b.unparsed) > 65535 THEN 'a change record of ' || CAST(OCTET_LENGTH(b.unparsed) AS VARCHAR(20)) || ' bytes: Redshift parses JSON of at most 65,535 bytes (JSON_PARSE); replicate this table through kinesis:// instead' WHEN b.payload IS NULL THEN 'not JSON' WHEN NOT IS_OBJECT(b.payload.dynamodb) THEN 'not a DynamoDB change record: no `dynamodb` block' WHEN NVL(b.payload.eventName::VARCHAR(16), '') NOT IN ('INSERT', 'MODIFY', 'REMOVE') THEN 'not a DynamoDB change record: eventName ' || NVL(LEFT(b.payload.eventName::VARCHAR(200), 100), 'missing') WHEN NOT IS_OBJECT(b.payload.dynamodb.Keys) THEN 'missing Keys' WHEN b.payload.tableName IS NULL THEN 'no table name: the record carries none' WHEN b.payload.eventName::VARCHAR(16) <> 'REMOVE' AND NOT IS_OBJECT(b.payload.dynamodb.NewImage) THEN b.payload.eventName::VARCHAR(16) || ' without NewImage (KEYS_ONLY or OLD_IMAGE stream view type) cannot be replicated: use NEW_IMAGE or NEW_AND_OLD_IMAGES' END AS reason FROM _dynashift_mv_batch b) x;

SELECT (SELECT count(*) FROM _dynashift_mv_batch), (SELECT NVL(SUM(OCTET_LENGTH(NVL(JSON_SERIALIZE_TO_VARBYTE(payload), unparsed))), 0) FROM _dynashift_mv_changes), NVL(SUM(CASE WHEN n > 1 AND dup THEN 1 ELSE 0 END), 0), NVL(SUM(CASE WHEN n > 1 AND NOT dup AND older THEN 1 ELSE 0 END), 0), NVL(SUM(CASE WHEN n > 1 AND NOT dup AND NOT older THEN 1 ELSE 0 END), 0), 0 FROM (SELECT ROW_NUMBER() OVER (PARTITION BY source_table, JSON_SERIALIZE(keys) ORDER BY version_us DESC, seq DESC) AS n, version_us = FIRST_VALUE(version_us) OVER (PARTITION BY source_table, JSON_SERIALIZE(keys) ORDER BY version_us DESC, seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AND (seq = FIRST_VALUE(seq) OVER (PARTITION BY source_table, JSON_SERIALIZE(keys) ORDER BY version_us DESC, seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) OR (event_id <> '' AND event_id = FIRST_VALUE(event_id) OVER (PARTITION BY source_table, JSON_SERIALIZE(keys) ORDER BY version_us DESC, seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))) AS dup, NVL(version_us < MAX(version_us) OVER (PARTITION BY source_table, JSON_SERIALIZE(keys) ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false) AS older FROM _dynashift_mv_changes WHERE reason IS NULL) x;

SELECT u.position, u.reason, p.i, FROM_VARBYTE(SUBSTRING(u.blob, p.i * 15000 + 1, 15000), 'hex') FROM (SELECT *, NVL(JSON_SERIALIZE_TO_VARBYTE(payload), unparsed) AS blob FROM _dynashift_mv_changes WHERE reason IS NOT NULL) u, (SELECT d1.i + 10 * d2.i + 100 * d3.i AS i FROM (SELECT 0 AS i UNION ALL SELECT 1 AS i UNION ALL SELECT 2 AS i UNION ALL SELECT 3 AS i UNION ALL SELECT 4 AS i UNION ALL SELECT 5 AS i UNION ALL SELECT 6 AS i UNION ALL SELECT 7 AS i UNION ALL SELECT 8 AS i UNION ALL SELECT 9 AS i) d1, (SELECT 0 AS i UNION ALL SELECT 1 AS i UNION ALL SELECT 2 AS i UNION ALL SELECT 3 AS i UNION ALL SELECT 4 AS i UNION ALL SELECT 5 AS i UNION ALL SELECT 6 AS i UNION ALL SELECT 7 AS i UNION ALL SELECT 8 AS i UNION ALL SELECT 9 AS i) d2, (SELECT 0 AS i UNION ALL SELECT 1 AS i UNION ALL SELECT 2 AS i UNION ALL SELECT 3 AS i UNION ALL SELECT 4 AS i UNION ALL SELECT 5 AS i UNION ALL SELECT 6 AS i UNION ALL SELECT 7 AS i UNION ALL SELECT 8 AS i UNION ALL SELECT 9 AS i) d3) p WHERE p.i < 4 AND p.i * 15000 < OCTET_LENGTH(u.blob) ORDER BY u.seq, p.i;

SELECT shard_id, sequence_number, rows_read, CAST(DATEDIFF(microsecond, TIMESTAMP 'epoch', refresh_time) AS BIGINT) FROM (SELECT shard_id, sequence_number, refresh_time, ROW_NUMBER() OVER (PARTITION BY shard_id ORDER BY LPAD(sequence_number, 64, '0') DESC) AS n, count(*) OVER (PARTITION BY shard_id) AS rows_read FROM _dynashift_mv_batch) x WHERE n = 1 ORDER BY shard_id;

SELECT DISTINCT c.source_table, k FROM _dynashift_mv_changes c, UNPIVOT c.keys AS kv AT k WHERE c.reason IS NULL ORDER BY 1, 2;

SELECT source_table, a, LISTAGG(DISTINCT type_tag, ',') WITHIN GROUP (ORDER BY type_tag), MIN(seq) FROM (SELECT c.source_table, a, type_tag, c.seq FROM _dynashift_mv_changes c, UNPIVOT c.keys AS v AT a, UNPIVOT v AS x AT type_tag WHERE c.reason IS NULL UNION ALL SELECT c.source_table, a, type_tag, c.seq FROM _dynashift_mv_changes c, UNPIVOT c.image AS v AT a, UNPIVOT v AS x AT type_tag WHERE c.reason IS NULL UNION ALL SELECT c.source_table, a, type_tag, c.seq FROM _dynashift_mv_changes c, UNPIVOT c.old_image AS v AT a, UNPIVOT v AS x AT type_tag WHERE c.reason IS NULL) u GROUP BY source_table, a ORDER BY source_table, MIN(seq), a;

CREATE TEMP TABLE "_dynashift_mv_stage_0_w" AS WITH r AS (SELECT k.*, ROW_NUMBER() OVER (PARTITION BY dk ORDER BY version_us DESC, seq DESC) AS n, ROW_NUMBER() OVER (PARTITION BY dk, CASE WHEN op = 'REMOVE' THEN 1 ELSE 0 END ORDER BY version_us DESC, seq DESC) AS live_n FROM (SELECT c.*, d.dk FROM _dynashift_mv_changes c JOIN (SELECT c.seq, '{' || MAX(CASE WHEN kn = 'pk' THEN '"pk":' || JSON_SERIALIZE(kv) END) || '}' AS dk FROM _dynashift_mv_changes c, UNPIVOT c.keys AS kv AT kn WHERE c.reason IS NULL AND c.source_table = %s GROUP BY c.seq) d ON d.seq = c.seq WHERE c.reason IS NULL AND c.source_table = %s) k) SELECT w.dk AS "dist_key", CASE WHEN w.op <> 'REMOVE' THEN 'U' WHEN NOT (CASE WHEN w.ttl THEN 'soft' ELSE 'soft' END = 'soft') THEN 'D' WHEN w.old_image IS NULL AND l.dk IS NULL THEN 'S' ELSE 'V' END AS "_dynashift_op", w.version_us AS "_dynashift_version", w.seq AS "_dynashift_seq", w.event_id AS "_dynashift_event_id", (TIMESTAMP 'epoch' + (w.version_us / 1000000) * INTERVAL '1 second' + MOD(w.version_us, 1000000) * INTERVAL '1 microsecond')::TIMESTAMPTZ AS "_dynashift_changed_at", CASE WHEN CASE WHEN w.op <> 'REMOVE' THEN 'U' WHEN NOT (CASE WHEN w.ttl THEN 'soft' ELSE 'soft' END = 'soft') THEN 'D' WHEN w.old_image IS NULL AND l.dk IS NULL THEN 'S' ELSE 'V' END = 'V' THEN CASE WHEN w.old_image IS NOT NULL THEN w.version_us ELSE l.version_us END END AS "_dynashift_values_version", CASE WHEN CASE WHEN w.op <> 'REMOVE' THEN 'U' WHEN NOT (CASE WHEN w.ttl THEN 'soft' ELSE 'soft' END = 'soft') THEN 'D' WHEN w.old_image IS NULL AND l.dk IS NULL THEN 'S' ELSE 'V' END = 'V' THEN CASE WHEN w.old_image IS NOT NULL THEN w.seq ELSE l.seq END END AS "_dynashift_values_seq", CASE WHEN w.op <> 'REMOVE' THEN w.image WHEN (CASE WHEN w.ttl THEN 'soft' ELSE 'soft' END = 'soft') AND w.old_image IS NOT NULL THEN w.old_image WHEN (CASE WHEN w.ttl THEN 'soft' ELSE 'soft' END = 'soft') AND l.dk IS NOT NULL THEN l.image ELSE w.keys END AS _src FROM r w LEFT JOIN r l ON l.dk = w.dk AND l.op <> 'REMOVE' AND l.live_n = 1 WHERE w.n = 1;

SELECT u.dkh, u.seq, u.ah, p.i, FROM_VARBYTE(SUBSTRING(u.blob, p.i * 15000 + 1, 15000), 'hex') FROM (SELECT *, JSON_SERIALIZE_TO_VARBYTE(v) AS blob FROM (SELECT MD5(w."dist_key") AS dkh, w."_dynashift_seq" AS seq, MD5(a) AS ah, v FROM "_dynashift_mv_stage_0_w" w, UNPIVOT w._src AS v AT a) c WHERE NOT (v.S IS NOT NULL OR v.N IS NOT NULL OR v.B IS NOT NULL OR v.BOOL IS NOT NULL OR JSON_SERIALIZE(v) = '{"NULL":true}') OR JSON_SIZE(v) > 60000) u, (SELECT d1.i + 10 * d2.i + 100 * d3.i AS i FROM (SELECT 0 AS i UNION ALL SELECT 1 AS i UNION ALL SELECT 2 AS i UNION ALL SELECT 3 AS i UNION ALL SELECT 4 AS i UNION ALL SELECT 5 AS i UNION ALL SELECT 6 AS i UNION ALL SELECT 7 AS i UNION ALL SELECT 8 AS i UNION ALL SELECT 9 AS i) d1, (SELECT 0 AS i UNION ALL SELECT 1 AS i UNION ALL SELECT 2 AS i UNION ALL SELECT 3 AS i UNION ALL SELECT 4 AS i UNION ALL SELECT 5 AS i UNION ALL SELECT 6 AS i UNION ALL SELECT 7 AS i UNION ALL SELECT 8 AS i UNION ALL SELECT 9 AS i) d2, (SELECT 0 AS i UNION ALL SELECT 1 AS i UNION ALL SELECT 2 AS i UNION ALL SELECT 3 AS i UNION ALL SELECT 4 AS i UNION ALL SELECT 5 AS i UNION ALL SELECT 6 AS i UNION ALL SELECT 7 AS i UNION ALL SELECT 8 AS i UNION ALL SELECT 9 AS i) d3) p WHERE p.i < 1000 AND p.i * 15000 < OCTET_LENGTH(u.blob) ORDER BY u.dkh, u.ah, p.i;

CREATE TEMP TABLE "_dynashift_mv_stage_0_w_rendered" ("dkh" VARCHAR(65535), "ah" VARCHAR(65535), "txt" VARCHAR(65535));

INSERT INTO "_dynashift_mv_stage_0_w_rendered" ("dkh", "ah", "txt") VALUES (%s, %s, %s);

CREATE TEMP TABLE "_dynashift_mv_stage_0_cells" AS SELECT u.dk, u.a, NVL(r.txt, u.txt) AS txt FROM (SELECT w."dist_key" AS dk, a, CASE WHEN v.S IS NOT NULL AND JSON_SIZE(v) <= 60000 THEN v.S::VARCHAR(65535) WHEN v.N IS NOT NULL AND JSON_SIZE(v) <= 60000 THEN v.N::VARCHAR(65535) WHEN v.B IS NOT NULL AND JSON_SIZE(v) <= 60000 THEN v.B::VARCHAR(65535) WHEN v.BOOL IS NOT NULL THEN CASE WHEN v.BOOL::BOOLEAN THEN 'true' ELSE 'false' END END AS txt FROM "_dynashift_mv_stage_0_w" w, UNPIVOT w._src AS v AT a) u LEFT JOIN "_dynashift_mv_stage_0_w_rendered" r ON r.dkh = MD5(u.dk) AND r.ah = MD5(u.a);

DROP TABLE IF EXISTS "_dynashift_mv_stage_0_w_rendered";

CREATE TEMP TABLE "_dynashift_mv_stage_0_p0" AS SELECT dk AS "_dk_0", MAX(CASE WHEN a = 'pk' THEN txt END) AS "pk", MAX(CASE WHEN a = 'tags' THEN txt END) AS "tags", MAX(CASE WHEN a = 'qty' THEN txt END) AS "qty" FROM "_dynashift_mv_stage_0_cells" GROUP BY dk;

CREATE TEMP TABLE "_dynashift_mv_stage_0" AS SELECT w.*, p0.* FROM "_dynashift_mv_stage_0_w" w JOIN "_dynashift_mv_stage_0_p0" p0 ON p0."_dk_0" = w."dist_key";

DROP TABLE IF EXISTS "_dynashift_mv_stage_0_w";

DROP TABLE IF EXISTS "_dynashift_mv_stage_0_cells";

DROP TABLE IF EXISTS "_dynashift_mv_stage_0_p0";

SELECT count(*) FROM "_dynashift_mv_stage_0";

CREATE TEMP TABLE "_dynashift_mv_stage_1_w" AS WITH r AS (SELECT k.*, ROW_NUMBER() OVER (PARTITION BY dk ORDER BY version_us DESC, seq DESC) AS n, ROW_NUMBER() OVER (PARTITION BY dk, CASE WHEN op = 'REMOVE' THEN 1 ELSE 0 END ORDER BY version_us DESC, seq DESC) AS live_n FROM (SELECT c.*, d.dk FROM _dynashift_mv_changes c JOIN (SELECT c.seq, '{' || MAX(CASE WHEN kn = 'id' THEN '"id":' || JSON_SERIALIZE(kv) END) || '}' AS dk FROM _dynashift_mv_changes c, UNPIVOT c.keys AS kv AT kn WHERE c.reason IS NULL AND c.source_table = %s GROUP BY c.seq) d ON d.seq = c.seq WHERE c.reason IS NULL AND c.source_table = %s) k) SELECT w.dk AS "dist_key", CASE WHEN w.op <> 'REMOVE' THEN 'U' WHEN NOT (CASE WHEN w.ttl THEN 'soft' ELSE 'soft' END = 'soft') THEN 'D' WHEN w.old_image IS NULL AND l.dk IS NULL THEN 'S' ELSE 'V' END AS "_dynashift_op", w.version_us AS "_dynashift_version", w.seq AS "_dynashift_seq", w.event_id AS "_dynashift_event_id", (TIMESTAMP 'epoch' + (w.version_us / 1000000) * INTERVAL '1 second' + MOD(w.version_us, 1000000) * INTERVAL '1 microsecond')::TIMESTAMPTZ AS "_dynashift_changed_at", CASE WHEN CASE WHEN w.op <> 'REMOVE' THEN 'U' WHEN NOT (CASE WHEN w.ttl THEN 'soft' ELSE 'soft' END = 'soft') THEN 'D' WHEN w.old_image IS NULL AND l.dk IS NULL THEN 'S' ELSE 'V' END = 'V' THEN CASE WHEN w.old_image IS NOT NULL THEN w.version_us ELSE l.version_us END END AS "_dynashift_values_version", CASE WHEN CASE WHEN w.op <> 'REMOVE' THEN 'U' WHEN NOT (CASE WHEN w.ttl THEN 'soft' ELSE 'soft' END = 'soft') THEN 'D' WHEN w.old_image IS NULL AND l.dk IS NULL THEN 'S' ELSE 'V' END = 'V' THEN CASE WHEN w.old_image IS NOT NULL THEN w.seq ELSE l.seq END END AS "_dynashift_values_seq", CASE WHEN w.op <> 'REMOVE' THEN w.image WHEN (CASE WHEN w.ttl THEN 'soft' ELSE 'soft' END = 'soft') AND w.old_image IS NOT NULL THEN w.old_image WHEN (CASE WHEN w.ttl THEN 'soft' ELSE 'soft' END = 'soft') AND l.dk IS NOT NULL THEN l.image ELSE w.keys END AS _src FROM r w LEFT JOIN r l ON l.dk = w.dk AND l.op <> 'REMOVE' AND l.live_n = 1 WHERE w.n = 1;

SELECT u.dkh, u.seq, u.ah, p.i, FROM_VARBYTE(SUBSTRING(u.blob, p.i * 15000 + 1, 15000), 'hex') FROM (SELECT *, JSON_SERIALIZE_TO_VARBYTE(v) AS blob FROM (SELECT MD5(w."dist_key") AS dkh, w."_dynashift_seq" AS seq, MD5(a) AS ah, v FROM "_dynashift_mv_stage_1_w" w, UNPIVOT w._src AS v AT a) c WHERE NOT (v.S IS NOT NULL OR v.N IS NOT NULL OR v.B IS NOT NULL OR v.BOOL IS NOT NULL OR JSON_SERIALIZE(v) = '{"NULL":true}') OR JSON_SIZE(v) > 60000) u, (SELECT d1.i + 10 * d2.i + 100 * d3.i AS i FROM (SELECT 0 AS i UNION ALL SELECT 1 AS i UNION ALL SELECT 2 AS i UNION ALL SELECT 3 AS i UNION ALL SELECT 4 AS i UNION ALL SELECT 5 AS i UNION ALL SELECT 6 AS i UNION ALL SELECT 7 AS i UNION ALL SELECT 8 AS i UNION ALL SELECT 9 AS i) d1, (SELECT 0 AS i UNION ALL SELECT 1 AS i UNION ALL SELECT 2 AS i UNION ALL SELECT 3 AS i UNION ALL SELECT 4 AS i UNION ALL SELECT 5 AS i UNION ALL SELECT 6 AS i UNION ALL SELECT 7 AS i UNION ALL SELECT 8 AS i UNION ALL SELECT 9 AS i) d2, (SELECT 0 AS i UNION ALL SELECT 1 AS i UNION ALL SELECT 2 AS i UNION ALL SELECT 3 AS i UNION ALL SELECT 4 AS i UNION ALL SELECT 5 AS i UNION ALL SELECT 6 AS i UNION ALL SELECT 7 AS i UNION ALL SELECT 8 AS i UNION ALL SELECT 9 AS i) d3) p WHERE p.i < 1000 AND p.i * 15000 < OCTET_LENGTH(u.blob) ORDER BY u.dkh, u.ah, p.i;

CREATE TEMP TABLE "_dynashift_mv_stage_1_w_rendered" ("dkh" VARCHAR(65535), "ah" VARCHAR(65535), "txt" VARCHAR(65535));

CREATE TEMP TABLE "_dynashift_mv_stage_1_cells" AS SELECT u.dk, u.a, NVL(r.txt, u.txt) AS txt FROM (SELECT w."dist_key" AS dk, a, CASE WHEN v.S IS NOT NULL AND JSON_SIZE(v) <= 60000 THEN v.S::VARCHAR(65535) WHEN v.N IS NOT NULL AND JSON_SIZE(v) <= 60000 THEN v.N::VARCHAR(65535) WHEN v.B IS NOT NULL AND JSON_SIZE(v) <= 60000 THEN v.B::VARCHAR(65535) WHEN v.BOOL IS NOT NULL THEN CASE WHEN v.BOOL::BOOLEAN THEN 'true' ELSE 'false' END END AS txt FROM "_dynashift_mv_stage_1_w" w, UNPIVOT w._src AS v AT a) u LEFT JOIN "_dynashift_mv_stage_1_w_rendered" r ON r.dkh = MD5(u.dk) AND r.ah = MD5(u.a);

DROP TABLE IF EXISTS "_dynashift_mv_stage_1_w_rendered";

CREATE TEMP TABLE "_dynashift_mv_stage_1_p0" AS SELECT dk AS "_dk_0", MAX(CASE WHEN a = 'id' THEN txt END) AS "id", MAX(CASE WHEN a = 'Name' THEN txt END) AS "Name" FROM "_dynashift_mv_stage_1_cells" GROUP BY dk;

CREATE TEMP TABLE "_dynashift_mv_stage_1" AS SELECT w.*, p0.* FROM "_dynashift_mv_stage_1_w" w JOIN "_dynashift_mv_stage_1_p0" p0 ON p0."_dk_0" = w."dist_key";

DROP TABLE IF EXISTS "_dynashift_mv_stage_1_w";

DROP TABLE IF EXISTS "_dynashift_mv_stage_1_cells";

DROP TABLE IF EXISTS "_dynashift_mv_stage_1_p0";

SELECT count(*) FROM "_dynashift_mv_stage_1";

LOCK dynashift.tables;

SELECT table_name FROM dynashift.tables WHERE table_name IN (%s, %s);

SELECT table_name, attribute_name FROM dynashift.columns WHERE table_name IN (%s, %s);

SELECT table_name, options FROM dynashift.tables WHERE table_name IN (%s, %s);

CREATE TABLE "public"."orders" ("dist_key" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_synced_at" TIMESTAMPTZ, "_dynashift_deleted" BOOLEAN, "pk" VARCHAR(65535), "tags" VARCHAR(65535), "qty" VARCHAR(65535)) DISTKEY("dist_key") SORTKEY("dist_key");

INSERT INTO dynashift.tables (table_name, source_table, key_attributes, created_at, options, schema_name) VALUES (%s, %s, %s, SYSDATE, %s, %s);

INSERT INTO dynashift.columns (table_name, attribute_name, column_name, types_seen, is_key, first_seen, last_seen, column_type) VALUES (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s);

CREATE TABLE "public"."users" ("dist_key" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ, "_dynashift_synced_at" TIMESTAMPTZ, "_dynashift_deleted" BOOLEAN, "id" VARCHAR(65535), "Name" VARCHAR(65535)) DISTKEY("dist_key") SORTKEY("dist_key");

INSERT INTO dynashift.tables (table_name, source_table, key_attributes, created_at, options, schema_name) VALUES (%s, %s, %s, SYSDATE, %s, %s);

INSERT INTO dynashift.columns (table_name, attribute_name, column_name, types_seen, is_key, first_seen, last_seen, column_type) VALUES (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s), (%s, %s, %s, '[]', %s, SYSDATE, SYSDATE, %s);

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_mv_stage_0" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

UPDATE _dynashift_winners SET "_dynashift_op" = 'S' WHERE "_dynashift_op" = 'V' AND CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END IS NOT NULL AND (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END > "_dynashift_values_version" OR (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END = "_dynashift_values_version" AND CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END > "_dynashift_values_seq"));

DELETE FROM _dynashift_winners WHERE _verdict <> 'W';

DELETE FROM "public"."orders" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."orders" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "pk", "tags", "qty") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."pk", s."tags", s."qty" FROM "_dynashift_mv_stage_0" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

SELECT count(*) FROM _dynashift_winners WHERE "_dynashift_op" = 'S';

INSERT INTO dynashift.versions SELECT %s, "dist_key", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_op" <> 'U', SYSDATE, CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_version" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END END, CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_seq" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END END FROM _dynashift_winners WHERE _vrow IS NULL;

DROP TABLE IF EXISTS _dynashift_late;

CREATE TEMP TABLE _dynashift_late AS SELECT s.*, t."_dynashift_changed_at" AS _removed_at FROM "_dynashift_mv_stage_0" s JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key" JOIN "public"."orders" t ON t."dist_key" = s."dist_key" AND t."_dynashift_deleted" WHERE s."_dynashift_op" = 'U' AND v.deleted AND NOT (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) AND (v.values_version_us IS NULL OR s."_dynashift_version" > v.values_version_us OR (s."_dynashift_version" = v.values_version_us AND s."_dynashift_seq" > v.values_seq));

SELECT count(*) FROM _dynashift_late;

DROP TABLE IF EXISTS _dynashift_late;

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_mv_stage_0";

DROP TABLE IF EXISTS _dynashift_winners;

CREATE TEMP TABLE _dynashift_winners AS SELECT s."dist_key", s."_dynashift_op", s."_dynashift_version", s."_dynashift_seq", s."_dynashift_event_id", s."_dynashift_changed_at", s."_dynashift_values_version", s."_dynashift_values_seq", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq, CASE WHEN v.dist_key IS NULL OR (s."_dynashift_version" > v.version_us OR (s."_dynashift_version" = v.version_us AND s."_dynashift_seq" > v.seq AND (s."_dynashift_event_id" = '' OR s."_dynashift_event_id" <> v.event_id))) THEN 'W' WHEN (s."_dynashift_version" = v.version_us AND (s."_dynashift_seq" = v.seq OR (s."_dynashift_event_id" <> '' AND s."_dynashift_event_id" = v.event_id))) THEN 'D' ELSE 'S' END AS _verdict, v.dist_key AS _vrow FROM "_dynashift_mv_stage_1" s LEFT JOIN dynashift.versions v ON v.table_name = %s AND v.dist_key = s."dist_key";

SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners GROUP BY _verdict, _vrow IS NULL;

UPDATE _dynashift_winners SET "_dynashift_op" = 'S' WHERE "_dynashift_op" = 'V' AND CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END IS NOT NULL AND (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END > "_dynashift_values_version" OR (CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END = "_dynashift_values_version" AND CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END > "_dynashift_values_seq"));

DELETE FROM "public"."users" WHERE "dist_key" IN (SELECT "dist_key" FROM _dynashift_winners WHERE "_dynashift_op" <> 'S');

INSERT INTO "public"."users" ("dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted", "id", "Name") SELECT s."dist_key", s."_dynashift_changed_at", SYSDATE, w."_dynashift_op" = 'V', s."id", s."Name" FROM "_dynashift_mv_stage_1" s JOIN _dynashift_winners w ON w."dist_key" = s."dist_key" WHERE w."_dynashift_op" IN ('U', 'V');

SELECT count(*) FROM _dynashift_winners WHERE "_dynashift_op" = 'S';

INSERT INTO dynashift.versions SELECT %s, "dist_key", "_dynashift_version", "_dynashift_seq", "_dynashift_event_id", "_dynashift_op" <> 'U', SYSDATE, CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_version" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END END, CASE WHEN "_dynashift_op" = 'V' THEN "_dynashift_values_seq" WHEN "_dynashift_op" = 'S' THEN CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END END FROM _dynashift_winners WHERE _vrow IS NULL;

DROP TABLE IF EXISTS _dynashift_winners;

DROP TABLE IF EXISTS "_dynashift_mv_stage_1";

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s, %s);

UPDATE dynashift.columns SET last_seen = SYSDATE WHERE table_name = %s AND attribute_name IN (%s, %s);

SELECT attribute_name, types_seen FROM dynashift.columns WHERE table_name = %s AND attribute_name IN (%s, %s);

CREATE TEMP TABLE "_dynashift_rejected" ("run_id" BIGINT, "source" VARCHAR(65535), "position" VARCHAR(65535), "reason" VARCHAR(65535), "raw" VARCHAR(65535));

INSERT INTO "_dynashift_rejected" ("run_id", "source", "position", "reason", "raw") VALUES (%s, %s, %s, %s, %s);

INSERT INTO dynashift.rejected (rejected_at, run_id, source, position, reason, "raw") SELECT SYSDATE, run_id, source, position, reason, "raw" FROM "_dynashift_rejected";

DROP TABLE IF EXISTS "_dynashift_rejected";

DELETE FROM dynashift.checkpoints WHERE pipeline = %s AND shard = %s;

INSERT INTO dynashift.checkpoints (source, shard, position, size, updated_at, pipeline) VALUES (%s, %s, %s, %s, SYSDATE, %s);

DELETE FROM dynashift.checkpoints WHERE pipeline = %s AND shard = %s;

INSERT INTO dynashift.checkpoints (source, shard, position, size, updated_at, pipeline) VALUES (%s, %s, %s, %s, SYSDATE, %s);

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s WHERE run_id = %s;

INSERT INTO dynashift.batches VALUES (%s, %s, SYSDATE, %s, %s, %s, %s, %s, %s, %s, %s);

DROP TABLE IF EXISTS _dynashift_mv_changes;

DROP TABLE IF EXISTS _dynashift_mv_batch;

COMMIT;

BEGIN;

SELECT source, shard, position, size FROM dynashift.checkpoints WHERE pipeline = %s;

CREATE TEMP TABLE _dynashift_mv_batch AS SELECT shard_id, sequence_number, refresh_time, payload, unparsed FROM (SELECT v.shard_id, v.sequence_number, v.refresh_time, v.payload, v.unparsed, ROW_NUMBER() OVER (PARTITION BY v.shard_id ORDER BY LPAD(v.sequence_number, 64, '0')) AS n FROM "streams"."ddb_changes" v LEFT JOIN dynashift.checkpoints c ON c.source = %s AND c.shard = v.shard_id WHERE (c.position IS NULL OR LPAD(v.sequence_number, 64, '0') > LPAD(c.position, 64, '0'))) x WHERE n <= 1000;

CREATE TEMP TABLE _dynashift_mv_changes AS SELECT shard_id, sequence_number, shard_id || ':' || sequence_number AS position, shard_id || CHR(31) || LPAD(sequence_number, 64, '0') AS seq, source_table, op, event_id, ttl, keys, image, old_image, reason, payload, unparsed, CASE WHEN t IS NULL THEN 0 ELSE CAST(FLOOR(t * CASE WHEN prec LIKE 'MICRO%' THEN 1 WHEN prec LIKE 'MILLI%' THEN 1000 WHEN prec LIKE 'SEC%' THEN 1000000 WHEN ABS(t) < 100000000000 THEN 1000000 WHEN ABS(t) < 100000000000000 THEN 1000 ELSE 1 END) AS BIGINT) END AS version_us FROM (SELECT b.shard_id, b.sequence_number, b.payload, b.unparsed, b.payload.tableName::VARCHAR(255) AS source_table, b.payload.eventName::VARCHAR(16) AS op, NVL(b.payload.eventID::VARCHAR(128), '') AS event_id, NVL(b.payload.userIdentity.type::VARCHAR(32) = 'Service' AND b.payload.userIdentity.principalId::VARCHAR(64) = 'dynamodb.amazonaws.com', false) AS ttl, b.payload.dynamodb.Keys AS keys, b.payload.dynamodb.NewImage AS image, b.payload.dynamodb.OldImage AS old_image, CASE WHEN IS_VARCHAR(b.payload.dynamodb.ApproximateCreationDateTime) THEN b.payload.dynamodb.ApproximateCreationDateTime::VARCHAR(64)::DECIMAL(38,6) ELSE b.payload.dynamodb.ApproximateCreationDateTime::DECIMAL(38,6) END AS t, UPPER(b.payload.dynamodb.ApproximateCreationDateTimePrecision::VARCHAR(16)) AS prec, CASE WHEN b.payload IS NULL AND OCTET_LENGTH(b.unparsed) > 65535 THEN 'a change record of ' || CAST(OCTET_LENGTH(b.unparsed) AS VARCHAR(20)) || ' bytes: Redshift parses JSON of at most 65,535 bytes (JSON_PARSE); replicate this table through kinesis:// instead' WHEN b.payload IS NULL THEN 'not JSON' WHEN NOT IS_OBJECT(b.payload.dynamodb) THEN 'not a DynamoDB change record: no `dynamodb` block' WHEN NVL(b.payload.eventName::VARCHAR(16), '') NOT IN ('INSERT', 'MODIFY', 'REMOVE') THEN 'not a DynamoDB change record: eventName ' || NVL(LEFT(b.payload.eventName::VARCHAR(200), 100), 'missing') WHEN NOT IS_OBJECT(b.payload.dynamodb.Keys) THEN 'missing Keys' WHEN b.payload.tableName IS NULL THEN 'no table name: the record carries none' WHEN b.payload.eventName::VARCHAR(16) <> 'REMOVE' AND NOT IS_OBJECT(b.payload.dynamodb.NewImage) THEN b.payload.eventName::VARCHAR(16) || ' without NewImage (KEYS_ONLY or OLD_IMAGE stream view type) cannot be replicated: use NEW_IMAGE or NEW_AND_OLD_IMAGES' END AS reason FROM _dynashift_mv_batch b) x;

SELECT (SELECT count(*) FROM _dynashift_mv_batch), (SELECT NVL(SUM(OCTET_LENGTH(NVL(JSON_SERIALIZE_TO_VARBYTE(payload), unparsed))), 0) FROM _dynashift_mv_changes), NVL(SUM(CASE WHEN n > 1 AND dup THEN 1 ELSE 0 END), 0), NVL(SUM(CASE WHEN n > 1 AND NOT dup AND older THEN 1 ELSE 0 END), 0), NVL(SUM(CASE WHEN n > 1 AND NOT dup AND NOT older THEN 1 ELSE 0 END), 0), 0 FROM (SELECT ROW_NUMBER() OVER (PARTITION BY source_table, JSON_SERIALIZE(keys) ORDER BY version_us DESC, seq DESC) AS n, version_us = FIRST_VALUE(version_us) OVER (PARTITION BY source_table, JSON_SERIALIZE(keys) ORDER BY version_us DESC, seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AND (seq = FIRST_VALUE(seq) OVER (PARTITION BY source_table, JSON_SERIALIZE(keys) ORDER BY version_us DESC, seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) OR (event_id <> '' AND event_id = FIRST_VALUE(event_id) OVER (PARTITION BY source_table, JSON_SERIALIZE(keys) ORDER BY version_us DESC, seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))) AS dup, NVL(version_us < MAX(version_us) OVER (PARTITION BY source_table, JSON_SERIALIZE(keys) ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false) AS older FROM _dynashift_mv_changes WHERE reason IS NULL) x;

DROP TABLE IF EXISTS _dynashift_mv_changes;

DROP TABLE IF EXISTS _dynashift_mv_batch;

COMMIT;

BEGIN;

UPDATE dynashift.runs SET records_read = %s, changes_applied = %s, superseded = %s, duplicates_skipped = %s, stale_skipped = %s, ttl_ignored = %s, rejected = %s, tables_created = %s, columns_added = %s, batches = %s, bytes_read = %s, commits_refused = %s, status = %s, error = %s, ended_at = SYSDATE WHERE run_id = %s;

COMMIT;

