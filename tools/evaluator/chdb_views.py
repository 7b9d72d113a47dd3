"""Runs SQL statements and queries on current ClickHouse (chdb, embedded) and prints the query results as JSON.

Input (stdin): {"statements": [sql, ...], "queries": {"name": sql, ...}}
Output (stdout, one line): {"version": "...", "results": {"name": [row objects, ...]}}
The evaluator's view test runs the same migrations, rows and README queries on the server's ClickHouse
(18.16 here) and on chdb, so views and README SQL are checked on both ends of the supported range.
"""
import json
import sys

import chdb
from chdb import session as chs


def main():
    spec = json.load(sys.stdin)
    sess = chs.Session()
    sess.query("CREATE DATABASE IF NOT EXISTS t")
    sess.query("USE t")
    for statement in spec["statements"]:
        sess.query(statement)
    results = {}
    for name, query in spec["queries"].items():
        out = sess.query(query, "JSONEachRow")
        text = out.bytes().decode() if hasattr(out, "bytes") else str(out)
        results[name] = [json.loads(line) for line in text.splitlines() if line.strip()]
    version = sess.query("SELECT version()", "CSV").bytes().decode().strip().strip('"')
    print(json.dumps({"version": version, "results": results}))


if __name__ == "__main__":
    main()
