from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from gridcity.api import api

admin.site.site_header = "网格精治 GridCity 配置管理"
admin.site.site_title = "网格精治"
admin.site.index_title = "配置"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("open311/", include("gridcity.open311.urls")),
    path("sensors/", include("gridcity.sensors.urls")),
    path("evaluation/", include("gridcity.evaluation.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("gridcity.web.urls", namespace="web")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
