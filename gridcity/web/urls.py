from django.contrib.auth import views as auth_views
from django.urls import include, path

from gridcity.web import views
from gridcity.web.forms import LoginForm

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="web/login.html", authentication_form=LoginForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Supervision and command centres, department desk, case page.
    path("", include("gridcity.web.urls_office")),
    # Grid manager's phone, citizens' page, map, dashboard.
    path("", include("gridcity.web.urls_field")),
]
