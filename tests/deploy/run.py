#!/usr/bin/python3
"""run.py [FILTER...] - run the deploy tests (tests/deploy/test_*.py).

The HTTP tests' runner (tests/http/run.py) with another summary prefix:
imports every test_*.py module here in sorted order and runs each top-level
function named test_* (no arguments), each under a time limit. Prints
"ok module.test" or "FAIL module.test" with the traceback, and ends with
"deploy: N passed, M failed"; exits 1 if anything failed. A FILTER keeps
only the tests whose "module.test" name contains it. tests/deploy/run.sh
provides the environment (DEPLOY_BIN, the stack's DB_PORT, REDIS_URL,
SMTP_URL, DEPLOY_POD_PORT).
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


def collect():
    sys.path.insert(0, HERE)
    tests, broken = [], []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        modname = fname[:-3]
        try:
            mod = importlib.import_module(modname)
        except Exception:  # an import error fails the module, not the run
            broken.append((modname, traceback.format_exc()))
            continue
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if name.startswith("test_") and fn.__module__ == modname:
                tests.append((f"{modname}.{name}", fn, fn.__code__.co_firstlineno))
    # Source order within a module, modules sorted by name.
    tests.sort(key=lambda t: (t[0].split(".")[0], t[2]))
    return [(n, f) for n, f, _ in tests], broken


def main(argv):
    filters = argv[1:]
    tests, broken = collect()
    signal.signal(signal.SIGALRM, _on_alarm)
    passed = failed = 0
    for modname, tb in broken:
        if filters and not any(f in modname for f in filters):
            continue
        failed += 1
        print(f"FAIL {modname} (import)\n{tb}", flush=True)
    for name, fn in tests:
        if filters and not any(f in name for f in filters):
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
            print(f"FAIL {name} ({time.monotonic() - start:.2f} s)", flush=True)
            print(traceback.format_exc(), flush=True)
        else:
            signal.alarm(0)
            passed += 1
            print(f"ok {name} ({time.monotonic() - start:.2f} s)", flush=True)
    print(f"deploy: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
