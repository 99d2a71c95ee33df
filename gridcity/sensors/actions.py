"""Every write to devices, readings and warnings goes through these actions.

Ingestion is one transaction per batch: validate each reading (a bad one is reported, never
fatal), insert the good ones in bulk with duplicates dropped by the unique index, then
evaluate the rules of the devices the batch touched. A rule that starts firing opens a
warning and may file a case through `cases.actions.do_report_case`; a rule that stops firing
clears it. The MQTT subscriber acknowledges its messages only after this transaction commits.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from gridcity.accounts.actions import get_system_user
from gridcity.accounts.models import ApiToken, User, hash_token
from gridcity.cases.models import OPEN, Case
from gridcity.grids.actions import locate
from gridcity.grids.models import Component
from gridcity.lib.bounds import check_date
from gridcity.lib.errors import CaseError, InvalidInput
from gridcity.sensors import partitions
from gridcity.sensors import rules as R
from gridcity.sensors.models import (
    Device,
    DeviceKind,
    DeviceState,
    Reading,
    SensorWarning,
    WarningState,
)

FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_BATCH = 20_000
DEFAULT_SENTINELS = (-99999.0, -9999.0, 99999.0)
# How far back rules read, in expected intervals, at most; bounds the per-batch read.
MAX_POINTS = 13


def sentinels() -> frozenset[float]:
    return frozenset(
        float(v) for v in getattr(settings, "GRIDCITY_SENSOR_SENTINELS", DEFAULT_SENTINELS)
    )


# ---------------------------------------------------------------------------------------------
# Devices


def do_register_device(
    code: str,
    kind: str,
    *,
    acting_user: User | None,
    name: str = "",
    lon: float | None = None,
    lat: float | None = None,
    component: Component | None = None,
    place: str = "",
    interval_s: int = 600,
    calibration_scale: float = 1.0,
    calibration_offset: float = 0.0,
    rules: dict | None = None,
) -> tuple[Device, str]:
    """Register a device and return it with its raw token (only the hash is stored: show the
    raw value once). The cell is located from the point, or from the component's point."""
    code = (code or "").strip()
    if not code or len(code) > 64 or "/" in code or "+" in code or "#" in code:
        raise InvalidInput(gettext("设备编号应为1–64个字符，且不含 / + #"), field="code")
    if kind not in DeviceKind.values:
        raise InvalidInput(gettext("未知的设备类型：%(kind)s") % {"kind": kind}, field="kind")
    if rules:
        R.rules_for(kind, rules)  # raises ValueError on a bad override
    if component is not None and lon is None:
        lon, lat = component.lon, component.lat
    cell_id = None
    if lon is not None and lat is not None:
        cell_id = locate(float(lon), float(lat)).cell_id
    raw = ApiToken.generate_raw()
    with transaction.atomic():
        if Device.objects.filter(code=code).exists():
            raise InvalidInput(gettext("设备 %(code)s 已登记") % {"code": code}, field="code")
        device = Device.objects.create(
            code=code,
            kind=kind,
            name=name,
            lon=lon,
            lat=lat,
            cell_id=cell_id,
            component=component,
            place=place,
            interval_s=interval_s,
            calibration_scale=calibration_scale,
            calibration_offset=calibration_offset,
            rules=rules or {},
            token_hash=hash_token(raw),
            token_prefix=raw[:10],
        )
    return device, raw


def do_rotate_device_token(device: Device, *, acting_user: User | None) -> str:
    raw = ApiToken.generate_raw()
    Device.objects.filter(pk=device.pk).update(token_hash=hash_token(raw), token_prefix=raw[:10])
    device.token_hash, device.token_prefix = hash_token(raw), raw[:10]
    return raw


def device_for_token(raw: str) -> Device | None:
    if not raw:
        return None
    return (
        Device.objects.filter(token_hash=hash_token(raw))
        .exclude(state=DeviceState.DISABLED)
        .first()
    )


# ---------------------------------------------------------------------------------------------
# Validation (pure apart from the device lookup the caller passes in)


@dataclass
class Rejected:
    index: int
    device: str
    reason: str

    def as_dict(self) -> dict:
        return {"index": self.index, "device": self.device, "reason": self.reason}


def parse_time(raw) -> datetime | None:
    """ISO 8601 with an offset (a bare time is taken as UTC) or Unix seconds."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            return None
        try:
            return _in_range(datetime.fromtimestamp(float(raw), tz=UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        t = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return _in_range(t)


def _in_range(t: datetime) -> datetime | None:
    # Year 1 or 9999 overflows as soon as it is moved to local time or a window is taken.
    try:
        check_date(t.date())
    except ValueError:
        return None
    return t


def validate_readings(
    items: Sequence,
    devices: dict[str, Device],
    *,
    now: datetime,
    only_device: Device | None = None,
    sentinel_values: frozenset[float] | None = None,
) -> tuple[list[tuple[Device, str, datetime, float]], list[Rejected]]:
    """Split a batch into good rows (calibrated) and rejections with reasons in Chinese."""
    sentinel_values = sentinels() if sentinel_values is None else sentinel_values
    latest_allowed = now + FUTURE_TOLERANCE
    good, bad = [], []
    # A batch repeats the same few timestamps (every device reports the same minute).
    parsed: dict = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            bad.append(Rejected(i, "", "读数应为 JSON 对象"))
            continue
        code = item.get("device")
        code = code if isinstance(code, str) else ("" if code is None else str(code))
        if not code:
            bad.append(Rejected(i, "", "缺少设备编号 device"))
            continue
        device = devices.get(code)
        if device is None:
            bad.append(Rejected(i, code, f"未登记的设备：{code}"))
            continue
        if only_device is not None and device.pk != only_device.pk:
            bad.append(Rejected(i, code, "设备令牌只能上报本设备的读数"))
            continue
        if device.state == DeviceState.DISABLED:
            bad.append(Rejected(i, code, "设备已停用"))
            continue
        metric = item.get("metric") or R.DEFAULT_METRIC.get(device.kind, "value")
        if not isinstance(metric, str) or len(metric) > 32:
            bad.append(Rejected(i, code, "指标名 metric 应为不超过32个字符的文本"))
            continue
        if "time" not in item or item["time"] in (None, ""):
            bad.append(Rejected(i, code, "缺少时间 time"))
            continue
        raw_t = item["time"]
        try:
            t = parsed[raw_t]
        except KeyError:
            t = parsed[raw_t] = parse_time(raw_t)
        except TypeError:  # unhashable (a list or an object): parse_time rejects it
            t = parse_time(raw_t)
        if t is None:
            bad.append(Rejected(i, code, f"时间无效：{str(item['time'])[:40]}"))
            continue
        if t > latest_allowed:
            bad.append(Rejected(i, code, "时间晚于当前时间5分钟以上（设备时钟错误？）"))
            continue
        raw = item.get("value")
        if isinstance(raw, bool) or raw is None:
            bad.append(Rejected(i, code, "读数 value 应为数字"))
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            bad.append(Rejected(i, code, f"读数不是数字：{str(raw)[:40]}"))
            continue
        if not math.isfinite(value):
            bad.append(Rejected(i, code, "读数不能是 NaN 或无穷大"))
            continue
        if value in sentinel_values:
            bad.append(Rejected(i, code, f"读数 {raw} 是设备的无效标记值（哨兵值）"))
            continue
        value = value * device.calibration_scale + device.calibration_offset
        good.append((device, metric, t, value))
    return good, bad


# ---------------------------------------------------------------------------------------------
# Storage


_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(rows: list[tuple[int, str, datetime, float]]) -> str:
    """The rows in COPY's text format. Formatting them here in one pass is several times
    faster than psycopg's per-value write_row; timestamps repeat across a batch (every device
    reports the same minute), so each distinct one is formatted once."""
    metrics: dict[str, str] = {}
    times: dict[float, str] = {}
    out = []
    for d, m, t, v in rows:
        mm = metrics.get(m)
        if mm is None:
            mm = metrics[m] = m.translate(_COPY_ESCAPE)
        key = t.timestamp()
        tt = times.get(key)
        if tt is None:
            tt = times[key] = t.isoformat()
        out.append(f"{d}\t{mm}\t{tt}\t{v!r}\n")
    return "".join(out)


def _insert_rows(rows: list[tuple[int, str, datetime, float]]) -> int:
    """Insert, dropping duplicates; returns how many rows were new."""
    if not rows:
        return 0
    table = Reading._meta.db_table
    if connection.vendor == "postgresql":
        partitions.ensure_months({partitions.month_of(t) for _, _, t, _ in rows})
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            raw = cur.cursor if hasattr(cur, "cursor") else cur
            text = _copy_text(rows)
            # Most batches hold no reading already stored: COPY them straight in, which costs
            # half of INSERT … ON CONFLICT (no speculative insertion). A batch with one
            # (a redelivery, a client's retry) fails on the unique index and takes the slow
            # path below instead, from the savepoint.
            try:
                with (
                    transaction.atomic(),
                    raw.copy(f"COPY {table} (device_id, metric, time, value) FROM STDIN") as copy,
                ):
                    copy.write(text)
                return len(rows)
            except (IntegrityError, connection.Database.IntegrityError):
                # psycopg's own error: the raw cursor's COPY is not wrapped by Django.
                pass
            # COPY into a session-local staging table, then one INSERT … SELECT that lets the
            # unique index drop what is already stored. TRUNCATE rather than ON COMMIT
            # DELETE: the batch may run inside an outer transaction (tests) that never commits.
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS sensors_reading_stage "
                "(device_id bigint, metric varchar(32), time timestamptz, value float8)"
            )
            with raw.copy(
                "COPY sensors_reading_stage (device_id, metric, time, value) FROM STDIN"
            ) as copy:
                copy.write(text)
            cur.execute(
                f"INSERT INTO {table} (device_id, metric, time, value) "
                "SELECT device_id, metric, time, value FROM sensors_reading_stage "
                "ON CONFLICT (device_id, metric, time) DO NOTHING"
            )
            stored = cur.rowcount
            cur.execute("TRUNCATE sensors_reading_stage")
            return stored
        adapt = connection.ops.adapt_datetimefield_value
        cur.executemany(
            f"INSERT INTO {table} (device_id, metric, time, value) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (device_id, metric, time) DO NOTHING",
            [(d, m, adapt(t), v) for d, m, t, v in rows],
        )
        return cur.rowcount


@dataclass
class IngestResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    warnings_opened: int = 0
    warnings_cleared: int = 0
    cases_filed: int = 0

    def as_dict(self) -> dict:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": [r.as_dict() for r in self.rejected],
            "warnings_opened": self.warnings_opened,
            "warnings_cleared": self.warnings_cleared,
            "cases_filed": self.cases_filed,
        }


def do_ingest_readings(
    items: Sequence,
    *,
    acting_user: User | None = None,
    device: Device | None = None,
    now: datetime | None = None,
    evaluate: bool = True,
    file_cases: bool = True,
) -> IngestResult:
    """Validate, store and evaluate one batch. `device` restricts the batch to one device
    (a device token, or the device named by an MQTT topic)."""
    now = now or timezone.now()
    result = IngestResult(received=len(items))
    if len(items) > MAX_BATCH:
        raise InvalidInput(
            gettext("一批最多 %(MAX_BATCH)s 条读数") % {"MAX_BATCH": MAX_BATCH}, field="readings"
        )
    codes = {it.get("device") for it in items if isinstance(it, dict)}
    codes = {c for c in codes if isinstance(c, str) and c}
    devices = {d.code: d for d in Device.objects.filter(code__in=codes)} if codes else {}
    good, bad = validate_readings(items, devices, now=now, only_device=device)
    result.rejected = bad
    # Duplicates inside the batch are dropped here; against stored rows by the index.
    # Keyed on the timestamp as a number: hashing aware datetimes is slow.
    # Validation hands out one datetime object per distinct time string: convert each once.
    stamps: dict[int, float] = {}
    unique = {}
    for d, m, t, v in good:
        ts = stamps.get(id(t))
        if ts is None:
            ts = stamps[id(t)] = t.timestamp()
        unique[(d.id, m, ts)] = (d.id, m, t, v)
    with transaction.atomic():
        stored = _insert_rows(list(unique.values()))
        result.stored = stored
        result.duplicates = len(good) - stored
        touched: dict[int, Device] = {}
        latest: dict[int, datetime] = {}
        for d, _, t, _ in good:
            pk = d.id
            if pk not in touched:
                touched[pk] = d
                latest[pk] = t
            elif t > latest[pk]:
                latest[pk] = t
        if touched:
            _evaluate_devices(
                list(touched.values()),
                latest,
                now=now,
                file_cases=file_cases and evaluate,
                rules_on=evaluate,
                result=result,
            )
    return result


# ---------------------------------------------------------------------------------------------
# Rules → warnings → cases


_RULES_CACHE: dict[tuple[str, str], list[R.RuleSpec]] = {}


def device_rules(device: Device) -> list[R.RuleSpec]:
    key = (device.kind, json.dumps(device.rules or {}, sort_keys=True))
    rules = _RULES_CACHE.get(key)
    if rules is None:
        rules = R.rules_for(
            device.kind, device.rules, getattr(settings, "GRIDCITY_SENSOR_RULES", None)
        )
        if len(_RULES_CACHE) > 1000:
            _RULES_CACHE.clear()
        _RULES_CACHE[key] = rules
    return rules


def _lookback(spec: R.RuleSpec, device: Device) -> timedelta:
    base = spec.lookback()
    if spec.kind == R.RuleKind.PREDICT:
        # A forecast reads at most a dozen readings since the last emptying: bound the read by
        # the device's interval so a device reporting every minute does not read three days.
        base = min(base, timedelta(seconds=device.interval_s * MAX_POINTS * 2))
    return base


def _recent_series(
    windows: dict[int, datetime], metrics: set[str]
) -> dict[tuple[int, str], list[tuple[datetime, float]]]:
    """Readings per (device, metric) since each device's own start time, in one query."""
    out: dict[tuple[int, str], list[tuple[datetime, float]]] = defaultdict(list)
    if not windows or not metrics:
        return out
    table = Reading._meta.db_table
    pg = connection.vendor == "postgresql"
    adapt = (lambda t: t) if pg else connection.ops.adapt_datetimefield_value
    cast = "(%s::bigint, %s::timestamptz)" if pg else "(%s, %s)"
    values = ", ".join([cast] * len(windows))
    params: list = []
    for pk, since in windows.items():
        params += [pk, adapt(since)]
    metric_marks = ", ".join(["%s"] * len(metrics))
    params += list(metrics)
    sql = (
        f"WITH w(device_id, since) AS (VALUES {values}) "
        f"SELECT r.device_id, r.metric, r.time, r.value FROM {table} r "
        "JOIN w ON r.device_id = w.device_id AND r.time >= w.since "
        f"WHERE r.metric IN ({metric_marks}) ORDER BY r.device_id, r.metric, r.time"
    )
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    for dev, metric, t, v in rows:
        # SQLite answers the naive UTC text Django stored; PostgreSQL an aware datetime.
        if isinstance(t, str):
            t = datetime.fromisoformat(t)
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        out[(dev, metric)].append((t, v))
    return out


def _evaluate_devices(
    devices: list[Device],
    latest: dict[int, datetime],
    *,
    now: datetime,
    file_cases: bool,
    rules_on: bool,
    result: IngestResult,
) -> None:
    # In id order: two workers updating overlapping devices lock them in the same order, so
    # they wait for each other's commit instead of deadlocking.
    devices = sorted(devices, key=lambda d: d.id)
    by_pk = {d.pk: d for d in devices}
    # Readings may arrive out of order: the rules look at the device's newest reading.
    for d in devices:
        t = latest[d.pk]
        d.last_seen_at = t if d.last_seen_at is None or t > d.last_seen_at else d.last_seen_at
    # None marks a warning this batch opens (written after the loop).
    open_warnings: dict[tuple[int, str], SensorWarning | None] = {
        (w.device_id, w.rule): w
        for w in SensorWarning.objects.filter(device_id__in=by_pk, state=WarningState.OPEN)
    }
    windows: dict[int, datetime] = {}
    metrics: set[str] = set()
    plans: dict[int, list[R.RuleSpec]] = {}
    for d in devices:
        specs = [s for s in device_rules(d) if s.kind != R.RuleKind.SILENCE] if rules_on else []
        plans[d.pk] = specs
        if specs:
            windows[d.pk] = d.last_seen_at - max(_lookback(s, d) for s in specs)
            metrics.update(s.metric or R.DEFAULT_METRIC.get(d.kind, "value") for s in specs)
    series = _recent_series(windows, metrics)
    changed_warnings: list[SensorWarning] = []
    # Opened and cleared warnings are written together after the loop: one statement each per
    # batch, not a round trip per warning (a batch of bins opens and clears dozens).
    to_clear: list[tuple[SensorWarning, str]] = []
    to_open: list[tuple[Device, R.RuleSpec, R.Verdict]] = []
    for d in devices:
        # A reading is the end of any silence.
        w = open_warnings.get((d.pk, R.SILENCE.name))
        if w is not None:
            to_clear.append((w, "设备已恢复上报"))
            del open_warnings[(d.pk, R.SILENCE.name)]
        for spec in plans[d.pk]:
            metric = spec.metric or R.DEFAULT_METRIC.get(d.kind, "value")
            s = series.get((d.pk, metric), [])
            if s and s[-1][0] > d.last_seen_at:
                # Readings stored earlier from ahead of this batch (out of order).
                s = [p for p in s if p[0] <= d.last_seen_at]
            w = open_warnings.get((d.pk, spec.name))
            verdict = R.evaluate(
                spec, s, now=d.last_seen_at, interval_s=d.interval_s, is_open=w is not None
            )
            if verdict.firing is None:
                continue
            if verdict.firing and (d.pk, spec.name) not in open_warnings:
                to_open.append((d, spec, verdict))
                open_warnings[(d.pk, spec.name)] = None
            elif verdict.firing and w is not None:
                w.last_fired_at = d.last_seen_at
                w.reason = verdict.reason[:300]
                w.value = verdict.value
                w.predicted_at = verdict.predicted_at
                changed_warnings.append(w)
            elif w is not None:
                to_clear.append((w, verdict.reason))
                del open_warnings[(d.pk, spec.name)]
    # Plain executemany: bulk_update's CASE expressions cost more than the rules themselves.
    pg = connection.vendor == "postgresql"
    adapt = (lambda t: t) if pg else connection.ops.adapt_datetimefield_value
    if to_clear:
        at = {d.pk: d.last_seen_at for d in devices}
        for w, reason in to_clear:
            w.state, w.cleared_at, w.clear_reason = (
                WarningState.CLEARED,
                at[w.device_id],
                reason[:300],
            )
        with connection.cursor() as cur:
            cur.executemany(
                f"UPDATE {SensorWarning._meta.db_table} SET state = %s, cleared_at = %s, "
                "clear_reason = %s WHERE id = %s",
                [(w.state, adapt(w.cleared_at), w.clear_reason, w.pk) for w, _ in to_clear],
            )
        result.warnings_cleared += len(to_clear)
    if to_open:
        # Cleared first: the partial unique index allows one open warning per device and rule.
        opened = SensorWarning.objects.bulk_create(
            [
                SensorWarning(
                    device=d,
                    rule=spec.name,
                    label=spec.label or spec.name,
                    reason=verdict.reason[:300],
                    value=verdict.value,
                    predicted_at=verdict.predicted_at,
                    opened_at=d.last_seen_at,
                    last_fired_at=d.last_seen_at,
                )
                for d, spec, verdict in to_open
            ]
        )
        result.warnings_opened += len(opened)
        for w, (d, spec, _) in zip(opened, to_open, strict=True):
            if spec.file_case and file_cases:
                _file_case(d, spec, w, result, now=now)
    with connection.cursor() as cur:
        if changed_warnings:
            cur.executemany(
                f"UPDATE {SensorWarning._meta.db_table} SET last_fired_at = %s, reason = %s, "
                "value = %s, predicted_at = %s WHERE id = %s",
                [
                    (adapt(w.last_fired_at), w.reason, w.value, adapt(w.predicted_at), w.pk)
                    for w in changed_warnings
                ],
            )
        open_rules: dict[int, set[str]] = defaultdict(set)
        for pk, name in open_warnings:
            open_rules[pk].add(name)
        for d in devices:
            d.state = _state_of(d, open_rules.get(d.pk, set()))
        if pg:
            # One statement, not one round trip per device.
            cur.execute(
                f"UPDATE {Device._meta.db_table} AS d SET last_seen_at = v.t, state = v.s "
                "FROM (VALUES "
                + ", ".join(["(%s::bigint, %s::timestamptz, %s::varchar)"] * len(devices))
                + ") AS v(id, t, s) WHERE d.id = v.id",
                [x for d in devices for x in (d.pk, d.last_seen_at, d.state)],
            )
        else:
            cur.executemany(
                f"UPDATE {Device._meta.db_table} SET last_seen_at = %s, state = %s WHERE id = %s",
                [(adapt(d.last_seen_at), d.state, d.pk) for d in devices],
            )


def _state_of(device: Device, open_rules: set[str]) -> str:
    if device.state == DeviceState.DISABLED:
        return DeviceState.DISABLED
    if open_rules - {R.SILENCE.name}:
        return DeviceState.WARNING
    if open_rules:
        return DeviceState.SILENT
    return DeviceState.NORMAL


def _clear(w: SensorWarning, reason: str, at: datetime, result: IngestResult) -> None:
    w.state = WarningState.CLEARED
    w.cleared_at = at
    w.clear_reason = reason[:300]
    w.save(update_fields=["state", "cleared_at", "clear_reason"])
    result.warnings_cleared += 1


def _open(
    device: Device,
    spec: R.RuleSpec,
    verdict: R.Verdict,
    at: datetime,
    file_cases: bool,
    result: IngestResult,
    *,
    now: datetime,
) -> SensorWarning:
    w = SensorWarning.objects.create(
        device=device,
        rule=spec.name,
        label=spec.label or spec.name,
        reason=verdict.reason[:300],
        value=verdict.value,
        predicted_at=verdict.predicted_at,
        opened_at=at,
        last_fired_at=at,
    )
    result.warnings_opened += 1
    if spec.file_case and file_cases:
        _file_case(device, spec, w, result, now=now)
    return w


def open_case_of(device: Device) -> Case | None:
    """A case this device caused that is still open: new firings wait on it (snooze)."""
    w = (
        SensorWarning.objects.filter(device=device, case__status__in=OPEN)
        .select_related("case")
        .order_by("-opened_at")
        .first()
    )
    return w.case if w else None


def idempotency_key(device: Device, rule: str, window: datetime) -> str:
    """(device, rule, window): the same episode retried or replayed files the same case."""
    key = f"sensor:{device.code}:{rule}:{window.astimezone(UTC):%Y%m%dT%H%M}"
    if len(key) > 100:
        key = "sensor:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _file_case(
    device: Device, spec: R.RuleSpec, w: SensorWarning, result: IngestResult, *, now: datetime
) -> None:
    # `now` is the ingest's clock, so a replay of past readings files its case at that moment.
    from gridcity.cases.actions import ReportInput, do_report_case
    from gridcity.taxonomy.actions import resolve_category

    existing = open_case_of(device)
    if existing is not None:
        w.case = existing
        w.case_note = f"设备已有未结案件 {existing.number}，不重复立案"
        w.save(update_fields=["case", "case_note"])
        return
    category = resolve_category(spec.category) if spec.category else None
    if category is None and device.component_id:
        category = device.component.category
    if category is None:
        w.case_note = f"未找到立案类别 {spec.category}"
        w.save(update_fields=["case_note"])
        return
    lon, lat = device.lon, device.lat
    if lon is None and device.component_id:
        lon, lat = device.component.lon, device.component.lat
    description = (
        f"【物联感知预警】{device.name or device.code}（{device.code}）{w.label}：{w.reason}"
    )
    inp = ReportInput(
        category=category,
        channel="sensor",
        lon=lon,
        lat=lat,
        address=device.place or (device.name if lon is None else ""),
        description=description[:4000],
        component_code=device.component.code if device.component_id else "",
        reported_at=w.opened_at,
        external_id=f"sensor-warning-{w.pk}",
        extra={"device": device.code, "rule": spec.name, "warning": w.pk},
    )
    try:
        with transaction.atomic():
            intake = do_report_case(
                inp,
                acting_user=get_system_user(),
                idempotency_key=idempotency_key(device, spec.name, w.opened_at),
                now=now,
            )
    except CaseError as exc:
        w.case_note = f"立案失败：{exc.message}"[:200]
        w.save(update_fields=["case_note"])
        return
    w.case = intake.case
    w.case_note = "已并入已有案件" if intake.linked_to_existing else "已自动立案"
    w.save(update_fields=["case", "case_note"])
    result.cases_filed += 1 if intake.created and not intake.linked_to_existing else 0


# ---------------------------------------------------------------------------------------------
# Sweeps: silence and retention


@dataclass
class SweepResult:
    silent: int = 0
    purged: int = 0


def sweep_silence(*, now: datetime | None = None, file_cases: bool = True) -> SweepResult:
    """Open a 'silent device' warning for every device past k × its interval."""
    now = now or timezone.now()
    result = SweepResult()
    devices = list(
        Device.objects.exclude(state__in=[DeviceState.DISABLED, DeviceState.SILENT])
        .filter(last_seen_at__isnull=False)
        .select_related("component")
    )
    silent_open = set(
        SensorWarning.objects.filter(rule=R.SILENCE.name, state=WarningState.OPEN).values_list(
            "device_id", flat=True
        )
    )
    for d in devices:
        spec = next((s for s in device_rules(d) if s.kind == R.RuleKind.SILENCE), None)
        if spec is None or d.pk in silent_open:
            continue
        verdict = R.evaluate(spec, [], now=now, last_seen=d.last_seen_at, interval_s=d.interval_s)
        if not verdict.firing:
            continue
        with transaction.atomic():
            # Conditional update: a reading that arrived meanwhile wins.
            moved = Device.objects.filter(pk=d.pk, last_seen_at=d.last_seen_at).exclude(
                state=DeviceState.DISABLED
            )
            if not moved.exists():
                continue
            _open(d, spec, verdict, now, file_cases, IngestResult(), now=now)
            if d.state == DeviceState.NORMAL:
                moved.update(state=DeviceState.SILENT)
            result.silent += 1
    return result


def retention_days() -> int:
    return int(getattr(settings, "GRIDCITY_SENSOR_RETENTION_DAYS", 90))


def purge_old_readings(*, days: int | None = None, now: datetime | None = None) -> int:
    """Remove readings older than `days` (the setting by default); returns how many.

    PostgreSQL drops whole monthly partitions once their last day is past the cutoff, so a
    reading is kept at least `days` and at most a month longer, and the count is the planner's
    estimate. SQLite deletes rows, in chunks so a big purge does not hold one long lock."""
    days = retention_days() if days is None else days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    if partitions.is_partitioned():
        return partitions.drop_before(cutoff).readings
    total = 0
    while True:
        ids = list(Reading.objects.filter(time__lt=cutoff).values_list("pk", flat=True)[:50_000])
        if not ids:
            return total
        total += Reading.objects.filter(pk__in=ids).delete()[0]


def readings_of(device: Device, *, since: datetime, metric: str | None = None) -> list:
    qs = Reading.objects.filter(device=device, time__gte=since)
    if metric:
        qs = qs.filter(metric=metric)
    return list(qs.order_by("metric", "time").values_list("metric", "time", "value"))
