"""Test tooling shared by the test files and bench/: never shipped in the `dynashift` package.

    builders.py       change records and files of them, built the one way every test means
    dynamo.py         DynamoDB as the oracle: a Scan of a table in the shape of simulate's expected.json
    simulated.py      the end state of dynashift's simulated stream (expected.json), rendered independently
    oracle.py         compare a replica with an expected state (simulated.py's expected.json)
    pg.py             the PostgreSQL fixture, and the Redshift target's connection seam played by PostgreSQL
    typed_support.py  typed-column replicas read back by type (and on Redshift-on-PostgreSQL)
    redshift_rules.py Redshift's own rules for the SQL dynashift sends, checked offline
    moto_server.py    a local AWS (moto's server) with the patches that make it behave like AWS
    faultkit.py       the crash, fault and soak tests' stream, replicas and audits
    faultproxy.py     an HTTP proxy that throttles, fails and cuts requests to moto
    faults.py         the crash points the crash tests arm in a `dynashift` process (fault_run.py)
"""
