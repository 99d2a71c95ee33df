"""`python -m bench` runs every benchmark; `python -m bench routing` or `intake` one of them."""

import os
import platform
import sys
from datetime import datetime


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · nproc {os.cpu_count()} · {model} · "
        f"Python {platform.python_version()} · {platform.system()} {platform.release()}"
    )


# name -> module with a run() that prints its own table.
BENCHES = {
    "routing": "bench.routing",
    "intake": "bench.intake_http",
    "export": "bench.export",
    "sensors": "bench.sensors",
    "evaluation": "bench.evaluation",
    "import": "bench.import_cases",
    "open311": "bench.open311",
    "pages": "bench.pages",
}


def main(argv: list[str]) -> int:
    import importlib

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcity.settings")
    names = argv or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
        return 2
    print(f"GridCity benchmarks — {machine()}")
    for name in names:
        print()
        module = importlib.import_module(BENCHES[name])
        if name == "evaluation":
            module.run(int(os.environ.get("BENCH_EVAL_CASES", "50000")))
        else:
            module.run()
    from bench.verdict import table

    summary = table()
    if summary:
        print()
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
