#!/usr/bin/python3
"""run.py [FILTER...] - run the black-box HTTP tests (tests/http/test_*.py).

Imports every test_*.py module here in sorted order and runs each top-level
function named test_* (no arguments), each under a time limit. A module
whose REQUIRES_ENV ({"NAME": "value"}) does not match the environment is
left out (the documents' S3 failure tests run only with the stack on
STORAGE_BACKEND=s3: tests/run.sh's second documents pass). Prints
"ok module.test" or "FAIL module.test" with the traceback, and ends with
"http: N passed, M failed"; exits 1 if anything failed. A FILTER keeps only
the tests whose "module.test" name contains it. Needs the stack's environment
(API_URL, DB_PORT, HD_STATE...): tests/run.sh provides it, or
tests/stack.sh env .run/test /usr/bin/python3 tests/http/run.py (Debian's
python, with the python3-yaml and python3-jsonschema lib.py needs).
"""
import importlib
import inspect
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_TIMEOUT = int(os.environ.get("HD_TEST_TIMEOUT", "60"))


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout(f"test took longer than {TEST_TIMEOUT} s")


def collect(here):
    sys.path.insert(0, here)
    tests, broken = [], []
    for fname in sorted(os.listdir(here)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        modname = fname[:-3]
        try:
            mod = importlib.import_module(modname)
        except Exception:  # an import error fails the module, not the run
            broken.append((modname, traceback.format_exc()))
            continue
        required = getattr(mod, "REQUIRES_ENV", {})
        if any(os.environ.get(k) != v for k, v in required.items()):
            continue
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if name.startswith("test_") and fn.__module__ == modname:
                tests.append((f"{modname}.{name}", fn, fn.__code__.co_firstlineno))
    # Source order within a module, modules sorted by name.
    tests.sort(key=lambda t: (t[0].split(".")[0], t[2]))
    return [(n, f) for n, f, _ in tests], broken


def main(argv, here=HERE, name="http"):
    """Run the test_*.py of HERE; the summary line starts with NAME (the
    deploy suite runs through here too, from tests/deploy/run.py)."""
    filters = argv[1:]
    tests, broken = collect(here)
    signal.signal(signal.SIGALRM, _on_alarm)
    passed = failed = 0
    for modname, tb in broken:
        if filters and not any(f in modname for f in filters):
            continue
        failed += 1
        print(f"FAIL {modname} (import)\n{tb}", flush=True)
    for test, fn in tests:
        if filters and not any(f in test for f in filters):
            continue
        start = time.monotonic()
        signal.alarm(TEST_TIMEOUT)
        try:
            fn()
        except BaseException as e:  # noqa: B902 - a test's KeyboardInterrupt still ends the run
            signal.alarm(0)
            if isinstance(e, KeyboardInterrupt):
                raise
            failed += 1
            print(f"FAIL {test} ({time.monotonic() - start:.2f} s)", flush=True)
            print(traceback.format_exc(), flush=True)
        else:
            signal.alarm(0)
            passed += 1
            print(f"ok {test} ({time.monotonic() - start:.2f} s)", flush=True)
    print(f"{name}: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
