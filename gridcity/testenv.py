"""Loaded by pytest before Django reads its settings (`-p gridcity.testenv` in pyproject's
addopts): every test run, and each xdist worker within it, gets a data directory of its own
(SQLite file, media, file cache, metric files), and templates render without collectstatic.

A test is one process: a change it makes drops the in-memory copies at once (the save signals),
so stamps are not polled on a clock, which would make query counts depend on timing. The tests
of the polling itself set their own interval."""

import os
import tempfile

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
os.environ["GRIDCITY_DATA_DIR"] = tempfile.mkdtemp(prefix=f"gridcity-test-{_worker}")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(os.environ["GRIDCITY_DATA_DIR"], "metrics")
os.environ.setdefault("GRIDCITY_STATIC_MANIFEST", "0")
os.environ["GRIDCITY_STAMP_CHECK_SECONDS"] = "3600"
