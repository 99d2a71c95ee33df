"""The case workflow's periodic job (run by `gridcity scheduler` and the task worker)."""

from gridcity.cases.actions import sweep_deadlines
from gridcity.system.scheduling import periodic


@periodic(every=60, name="sweep-deadlines", priority=20)
def sweep_deadlines_job() -> str:
    """标记超期环节（每个环节只标一次）并按督办阶梯生成督办单。"""
    r = sweep_deadlines()
    return f"标记超期 {r.marked}，新督办单 {r.orders}"
