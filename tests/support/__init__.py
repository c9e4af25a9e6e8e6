"""Test tooling shared by the test files and bench/: never shipped in the `dynashift` package.

    builders.py  change records and files of them, built the one way every test means
    dynamo.py    DynamoDB as the oracle: a Scan of a table in the shape of simulate's expected.json
    oracle.py    compare a replica with an expected state (simulate's expected.json)
    faults.py    the crash points the crash tests arm in a `dynashift` process (fault_run.py)
"""
