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


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcity.settings")
    names = argv or ["routing", "intake"]
    unknown = [n for n in names if n not in ("routing", "intake")]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose routing and/or intake")
        return 2
    print(f"GridCity benchmarks — {machine()}")
    for name in names:
        print()
        if name == "routing":
            from bench import routing

            routing.run()
        else:
            from bench import intake_http

            intake_http.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
