#!/usr/bin/python3
"""run.py [FILTER...] - run the deploy tests (tests/deploy/test_*.py).

The HTTP tests' runner (tests/http/run.py), loaded from its file, with
another directory and summary prefix: it imports every test_*.py module
here in sorted order and runs each top-level function named test_* (no
arguments), each under a time limit. Prints
"ok module.test" or "FAIL module.test" with the traceback, and ends with
"deploy: N passed, M failed"; exits 1 if anything failed. A FILTER keeps
only the tests whose "module.test" name contains it. tests/deploy/run.sh
provides the environment (DEPLOY_BIN, the stack's DB_PORT, REDIS_URL,
SMTP_URL, DEPLOY_POD_PORT).
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "http_runner", os.path.join(HERE, "..", "http", "run.py"))
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

if __name__ == "__main__":
    sys.exit(runner.main(sys.argv, here=HERE, name="deploy"))
