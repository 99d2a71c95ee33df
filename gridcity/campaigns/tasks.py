"""The campaigns' periodic job (run by `gridcity scheduler` and the task worker)."""

from gridcity.campaigns.actions import sweep_ledger
from gridcity.system.scheduling import periodic


@periodic(every=300, name="sweep-ledger", priority=10)
def sweep_ledger_job() -> str:
    """整改台账随案件补办、逾期扫描（标记逾期并督办）、反弹检查、安排本周期的例行督查。"""
    r = sweep_ledger()
    return (
        f"随案件更新 {r.followed}，标记逾期 {r.marked}，"
        f"新督办 {r.orders}（其中案件督办单 {r.case_orders}），"
        f"新反弹预警 {r.rebounds}，新例行督查 {r.inspections}"
    )
