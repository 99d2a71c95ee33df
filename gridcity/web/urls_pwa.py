from django.urls import path

from gridcity.web import pwa

urlpatterns = [
    path("sw.js", pwa.service_worker, name="service_worker"),
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("favicon.ico", pwa.favicon, name="favicon"),
    path("icons/<str:name>", pwa.icon, name="icon"),
    path("pwa/shell.json", pwa.shell, name="pwa_shell"),
]
