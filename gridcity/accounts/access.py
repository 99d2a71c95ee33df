"""Who may open a page: a user's effective role and the decorator the apps' views share."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _

from gridcity.accounts.models import Role, User


def effective_role(user: User) -> str:
    """A superuser acts as the administrator unless it is the system's own account."""
    if user.is_superuser and user.role not in (Role.SYSTEM,):
        return Role.ADMIN
    return user.role


def role_required(roles: set[str]):
    """Logged in, and one of `roles` (a superuser counts as admin)."""

    def deco(view):
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args, **kwargs):
            if effective_role(request.user) not in roles:
                raise PermissionDenied(_("您的角色不能访问此页面"))
            return view(request, *args, **kwargs)

        return wrapped

    return deco
