"""`gridcity open311-key create NAME` prints a new api_key (stored hashed);
`gridcity open311-key revoke NAME` revokes it; `gridcity open311-key list` lists keys."""

from django.core.management.base import BaseCommand, CommandError

from gridcity.open311.keys import KeyExists, do_create_api_key, do_revoke_api_key
from gridcity.open311.models import ApiKey


class Command(BaseCommand):
    help = "Issue, revoke or list Open311 api_keys"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        sub.add_parser("create", help="issue a key and print it once").add_argument("name")
        sub.add_parser("revoke", help="revoke a key").add_argument("name")
        sub.add_parser("list", help="list keys")

    def handle(self, *args, verb: str, **options) -> None:
        if verb == "create":
            try:
                raw = do_create_api_key(options["name"])
            except KeyExists as exc:
                raise CommandError(f"a key named {exc} exists; revoke it or pick a name") from exc
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(raw)
            self.stderr.write("Store it now: only its hash is kept.")
        elif verb == "revoke":
            if not do_revoke_api_key(options["name"]):
                raise CommandError(f"no active key named {options['name']}")
            self.stdout.write(f"revoked {options['name']}")
        else:
            for key in ApiKey.objects.all():
                state = "revoked" if key.revoked_at else "active"
                self.stdout.write(f"{key.name}\t{key.prefix}…\t{state}")
