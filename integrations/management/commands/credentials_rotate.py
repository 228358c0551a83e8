from django.core.management.base import BaseCommand

from integrations.services import credentials_rotate


class Command(BaseCommand):
    help = "Re-encrypt every connector secret with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **opts):
        self.stdout.write(f"re-encrypted {credentials_rotate()} credential(s)")
