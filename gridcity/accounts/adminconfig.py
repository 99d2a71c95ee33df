"""The admin application with GridCity's site (gridcity/accounts/admin_site.py): listed in
INSTALLED_APPS instead of "django.contrib.admin". The site class is named by its path so that
nothing of the admin is imported before the apps are ready."""

from django.contrib.admin.apps import AdminConfig


class AuditedAdminConfig(AdminConfig):
    default_site = "gridcity.accounts.admin_site.AuditedAdminSite"
