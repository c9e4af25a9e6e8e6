#!/usr/bin/env bash
# Both Redshift paths against a real cluster, in one command (docs/redshift.md, "Running the tests"):
#   redshift://      the whole conformance suite (text and typed columns; with S3 COPY when configured)
#   redshift-mv://   every conformance case through the view path, inside the warehouse
# It prints each test as it runs and, per view-path case, what it read, applied and rejected.
#   DYNASHIFT_REDSHIFT_URL=redshift://USER:PASSWORD@HOST:5439/scratch DYNASHIFT_REDSHIFT_SCRATCH=1 scripts/redshift-live.sh
# Optional: DYNASHIFT_REDSHIFT_S3_STAGING + DYNASHIFT_REDSHIFT_IAM_ROLE (COPY from S3),
#           DYNASHIFT_REDSHIFT_KINESIS_STREAM + DYNASHIFT_REDSHIFT_KINESIS_ROLE (a real streaming view).
set -euo pipefail
: "${DYNASHIFT_REDSHIFT_URL:?set DYNASHIFT_REDSHIFT_URL=redshift://… (a scratch database: schema dynashift is dropped)}"
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
echo "dynashift live suite against $(printf '%s' "$DYNASHIFT_REDSHIFT_URL" | sed -E 's#(//[^:/@]+):[^@/]*@#\1:***@#')"
exec "$python" -m pytest -v -rA tests/integration/test_redshift_live.py tests/integration/test_conformance.py -k "redshift and not on-postgresql" "$@"
