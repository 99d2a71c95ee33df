"""`python -m cluster`: start the cluster, run every scenario, print the summary, stop
everything. Exits 1 when any scenario failed (or the whole run took 10 minutes or more).
CLUSTER_KEEP_LOGS=1 keeps the services' logs after a passing run too."""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
import unicodedata

from cluster.scenarios import SCENARIOS, Outcome
from cluster.services import Cluster, log

TIME_LIMIT_S = 600


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def summary(outcomes: list[Outcome], total_s: float, ok: bool) -> None:
    print("\n=== 汇总 ===")
    width = max((_width(o.title) for o in outcomes), default=20)
    for o in outcomes:
        mark = "通过" if o.ok else "失败"
        figures = o.figures or ["-"]
        print(f"  {_pad(o.title, width)}  {mark}  {figures[0]}")
        for extra in figures[1:]:
            print(f"  {_pad('', width)}        {extra}")
        for failure in o.failures:
            print(f"  {_pad('', width)}        ✗ {failure}")
    print(f"  总用时 {total_s:.0f} s（限 {TIME_LIMIT_S} s）：{'通过' if ok else '失败'}")


def main() -> int:
    started = time.monotonic()
    # Also when started with SIGINT ignored (a background job of a script): Ctrl-C or kill -INT
    # must still stop every service.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    cluster = Cluster.create()
    outcomes: list[Outcome] = []
    ok = False
    try:
        cluster.start()
        for scenario in SCENARIOS:
            try:
                outcomes.append(scenario(cluster))
            except Exception as exc:
                traceback.print_exc()
                failed = Outcome(scenario.__name__)
                failed.failures.append(f"异常：{exc!r}")
                outcomes.append(failed)
        ok = bool(outcomes) and all(o.ok for o in outcomes)
    except KeyboardInterrupt as exc:
        log(f"中断（{str(exc) or 'Ctrl-C'}）：停止全部服务")
    except Exception:
        traceback.print_exc()
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cluster.stop(keep_logs=not ok or os.environ.get("CLUSTER_KEEP_LOGS") == "1")
    total = time.monotonic() - started
    ok = ok and total < TIME_LIMIT_S
    summary(outcomes, total, ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
