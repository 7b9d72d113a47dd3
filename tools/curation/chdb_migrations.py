#!/usr/bin/env python3
"""Applies SQL statements to an in-process current ClickHouse (chdb) and runs queries against the result,
so migrations written for ClickHouse 18.16 are proven on a current version too.

    python chdb_migrations.py < job.json

job.json: {"statements": ["CREATE TABLE ...", "INSERT ...", ...], "queries": {"name": "SELECT ...", ...}}
Prints JSON: {"version": "...", "results": {"name": [row objects], ...}}. A failing statement exits 1
with the statement and ClickHouse's message on stderr.
"""
import json
import sys
import tempfile

from chdb import session


def main() -> int:
    job = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as path:
        s = session.Session(path)
        s.query("CREATE DATABASE IF NOT EXISTS t")
        s.query("USE t")
        for statement in job["statements"]:
            try:
                s.query(statement)
            except Exception as error:  # chdb raises a plain RuntimeError with the server's message
                print(f"statement failed: {statement[:300]}\n{error}", file=sys.stderr)
                return 1
        results = {}
        for name, query in job.get("queries", {}).items():
            text = str(s.query(query, "JSONEachRow"))
            results[name] = [json.loads(line) for line in text.splitlines() if line.strip()]
        version = str(s.query("SELECT version()", "TabSeparated")).strip()
        s.close()
    print(json.dumps({"version": version, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
