"""Drop a cached token lookup (actions.authenticate_token) the moment the token or its user
changes: a revoked token or a deactivated user must not keep working for the cache's minute."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from gridcity.accounts.actions import forget_token, forget_tokens_of
from gridcity.accounts.models import ApiToken, User


@receiver([post_save, post_delete], sender=ApiToken)
def token_changed(sender, instance: ApiToken, **kwargs) -> None:
    forget_token(instance.key_hash)
    # Also after commit: a request in between may have cached the row as it was before.
    transaction.on_commit(lambda: forget_token(instance.key_hash))


@receiver([post_save, post_delete], sender=User)
def user_changed(sender, instance: User, **kwargs) -> None:
    if instance.pk is None or kwargs.get("created"):
        return
    user_id = instance.pk
    forget_tokens_of(user_id)
    transaction.on_commit(lambda: forget_tokens_of(user_id))
