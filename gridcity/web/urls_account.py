from django.urls import path

from gridcity.web import account

urlpatterns = [
    path("account/", account.account, name="account"),
    path("account/password/", account.ChangePasswordView.as_view(), name="password_change"),
    # Everything under account/2fa/ stays open to a session that still owes its code.
    path("account/2fa/", account.two_factor_setup, name="two_factor_setup"),
    path("account/2fa/verify/", account.two_factor_verify, name="two_factor_verify"),
    path("account/2fa/disable/", account.two_factor_disable, name="two_factor_disable"),
    path("account/tokens/<int:pk>/rotate/", account.token_rotate, name="token_rotate"),
    path("account/tokens/<int:pk>/revoke/", account.token_revoke, name="token_revoke"),
    path("audit/", account.audit_log, name="audit_log"),
]
