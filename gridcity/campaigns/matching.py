"""Which campaigns a new case could concern, without asking the database for every case.

Every intake announces its case to the campaigns (apps.follow_case); almost always no campaign
targets its category at its date. The campaigns' categories and dates are kept in the shared
cache (Redis when configured: one copy for every node) and dropped on any save or delete of a
campaign or change of its categories (signals connected in apps.CampaignsConfig.ready). A case
the cached copy says may concern a campaign goes on to the full check (actions.tag_case)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.core.cache import cache
from django.db import transaction

CACHE_KEY = "campaigns:case-matchers"
CACHE_SECONDS = 300


@dataclass(frozen=True)
class Matcher:
    campaign_id: int
    category_ids: frozenset[int]
    starts_on: date
    ends_on: date
    rebound_days: int

    def may_concern(self, category_id: int, reported_on: date) -> bool:
        """Tagging takes a case reported within the campaign; the rebound check one reported up
        to `rebound_days` after it."""
        last = self.ends_on + timedelta(days=max(self.rebound_days, 0))
        return category_id in self.category_ids and self.starts_on <= reported_on <= last


def matchers() -> list[Matcher]:
    held = cache.get(CACHE_KEY)
    if held is None:
        from gridcity.campaigns.models import Campaign

        categories: dict[int, set[int]] = {}
        for campaign_id, category_id in Campaign.categories.through.objects.values_list(
            "campaign_id", "category_id"
        ):
            categories.setdefault(campaign_id, set()).add(category_id)
        held = [
            Matcher(pk, frozenset(categories.get(pk, ())), starts_on, ends_on, rebound_days)
            for pk, starts_on, ends_on, rebound_days in Campaign.objects.values_list(
                "pk", "starts_on", "ends_on", "rebound_days"
            )
        ]
        cache.set(CACHE_KEY, held, CACHE_SECONDS)
    return held


def may_concern_any(category_id: int, reported_on: date) -> bool:
    return any(m.may_concern(category_id, reported_on) for m in matchers())


def forget() -> None:
    cache.delete(CACHE_KEY)


def campaigns_changed(sender, **kwargs) -> None:
    forget()
    # Again once committed: a concurrent intake may have cached the rows as they were before.
    transaction.on_commit(forget)
