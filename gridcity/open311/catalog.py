"""The service list and service definitions, rendered once per change of the taxonomy.

Partners poll services.json (405 services, tens of kB) far more often than a category or a
filing condition changes, so the rendered documents are kept:

- a version token in the shared Django cache (Redis on several nodes, the data directory's
  files on one) says which taxonomy the documents describe. A change to a category or a
  filing condition writes a new token (signals subscribed in `Open311Config.ready`), once at
  once and once more when its transaction commits: a document rebuilt between the two from
  the uncommitted state is filed under a token no one asks for any more.
- each rendered document is shared in the cache under its token, so one process of one node
  renders it and the others read it; each process also keeps the bytes of the current token in
  memory, so a request costs one small cache read, not 86 kB.
- each document carries a strong ETag (a hash of its bytes, so it survives a cache flush) and
  the time of the change as Last-Modified, and answers 304 to a client that has it.

The same per-token memory holds the categories by service code, so that POST and the list's
`service_code` filter do not query for them either."""

import copy
import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from gridcity.open311.services import service_code
from gridcity.taxonomy.models import Category

# A write that sends no signal (a bulk import) shows within a day at the latest.
VERSION_TIMEOUT_S = 24 * 3600
DOC_TIMEOUT_S = 24 * 3600


def _prefix() -> str:
    # Two installations (or two test databases) sharing one cache never read each other's.
    db = settings.DATABASES["default"]
    ident = f"{db.get('ENGINE')}|{db.get('HOST')}|{db.get('PORT')}|{db.get('NAME')}"
    return "open311:catalog:" + hashlib.sha256(ident.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Document:
    content: bytes
    etag: str
    last_modified: float  # epoch seconds


@dataclass
class Catalog:
    version: str
    # service_code → active Category, for lookups.
    by_code: dict[str, Category] = field(default_factory=dict)
    # pk → (service_code, name, service_notice) of every category, active or not: an old case
    # keeps the category it was filed under.
    by_pk: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    docs: dict[tuple, Document] = field(default_factory=dict)


_held: Catalog | None = None
_lock = threading.Lock()


def _new_version() -> str:
    return f"{uuid.uuid4().hex}.{time.time():.3f}"


def current_version() -> str:
    key = _prefix() + ":version"
    version = cache.get(key)
    if version is None:
        cache.add(key, _new_version(), VERSION_TIMEOUT_S)
        version = cache.get(key) or _new_version()
    return version


def taxonomy_changed(**kwargs) -> None:
    """Signal receiver for Category and FilingCondition saves and deletes."""
    _bump()
    transaction.on_commit(_bump)


def _bump() -> None:
    global _held
    cache.set(_prefix() + ":version", _new_version(), VERSION_TIMEOUT_S)
    _held = None


def forget() -> None:
    """Drop this process's copy (the shared documents stay, under their token)."""
    global _held
    _held = None


def catalog() -> Catalog:
    global _held
    version = current_version()
    held = _held
    if held is not None and held.version == version:
        return held
    with _lock:
        if _held is None or _held.version != version:
            fresh = Catalog(version)
            for c in Category.objects.all():
                code = service_code(c)
                fresh.by_pk[c.pk] = (code, c.name, c.service_notice)
                if c.is_active:
                    fresh.by_code[code] = c
            _held = fresh
        return _held


def active_category(code: str) -> Category | None:
    """The active category of a published service code, as a copy the caller may keep."""
    found = catalog().by_code.get(code)
    return copy.copy(found) if found is not None else None


def document(name: tuple, build) -> Document:
    """The rendered document `name` (e.g. ("services", "json")) of the current taxonomy;
    `build()` makes its bytes when neither this process nor the shared cache has it."""
    held = catalog()
    doc = held.docs.get(name)
    if doc is not None:
        return doc
    shared_key = f"{_prefix()}:doc:{held.version}:{':'.join(map(str, name))}"
    doc = cache.get(shared_key)
    if doc is None:
        content = build()
        doc = Document(
            content=content,
            etag='"' + hashlib.sha256(content).hexdigest()[:32] + '"',
            last_modified=float(held.version.split(".", 1)[1]),
        )
        cache.set(shared_key, doc, DOC_TIMEOUT_S)
    # Bounded: services × formats, and a flood of unknown codes is answered before this.
    held.docs[name] = doc
    return doc


def http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)
