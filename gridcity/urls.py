from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import cache_page
from django.views.i18n import JavaScriptCatalog

from gridcity.api import api
from gridcity.cases.media import serve_media
from gridcity.system import views as system_views
from gridcity.web import errors

admin.site.site_header = _("网格精治 GridCity 配置管理")
admin.site.site_title = _("网格精治")
admin.site.index_title = _("配置")

urlpatterns = [
    path("healthz", system_views.healthz, name="healthz"),
    path("readyz", system_views.readyz, name="readyz"),
    path("metrics", system_views.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("media/<path:path>", serve_media, name="media"),
    path("api/", api.urls),
    path("open311/", include("gridcity.open311.urls")),
    path("sensors/", include("gridcity.sensors.urls")),
    path("evaluation/", include("gridcity.evaluation.urls")),
    path("campaigns/", include("gridcity.campaigns.urls")),
    path("people/", include("gridcity.people.urls")),
    # The office pages under publicity/, the public 曝光台 under public/exposures/.
    path("", include("gridcity.publicity.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # The phone and office scripts' strings (djangojs catalogues of every app), one per language:
    # cached, since they change only with a release.
    path(
        "i18n/js/",
        cache_page(86400)(JavaScriptCatalog.as_view()),
        name="javascript_catalog",
    ),
    path("", include("gridcity.web.urls", namespace="web")),
]

# With DEBUG off: the product's own pages, and JSON / GeoReport errors under /api/ and /open311/.
handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error
