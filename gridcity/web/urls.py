from django.contrib.auth import views as auth_views
from django.urls import include, path

from gridcity.web import views
from gridcity.web.account import SignInView

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    # The one sign-in page, the admin's included: lockout, history, second factor.
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The account (password, two-factor, tokens, sign-in history) and the audit log.
    path("", include("gridcity.web.urls_account")),
    # Supervision and command centres, department desk, case page.
    path("", include("gridcity.web.urls_office")),
    # Grid manager's phone, citizens' page, map, dashboard.
    path("", include("gridcity.web.urls_field")),
    # The phone as an installable app: manifest, icons, service worker.
    path("", include("gridcity.web.urls_pwa")),
]
