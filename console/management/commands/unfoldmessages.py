"""Refresh the German catalog of django-unfold's own strings, which its release ships untranslated."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import django
import unfold
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

VENDOR_CATALOG = Path("locale") / "vendor" / "de" / "LC_MESSAGES" / "django.po"


class Command(BaseCommand):
    help = (
        "Write every string of the installed django-unfold into locale/vendor/de, keeping the "
        "translations it has and taking Django's where its own German catalogs have the same string."
    )

    def handle(self, *args, **options):
        for tool in ("xgettext", "msgmerge", "msgattrib"):
            if shutil.which(tool) is None:
                raise CommandError(f"{tool} is missing: install GNU gettext, as makemessages needs it.")
        catalog = Path(settings.BASE_DIR) / VENDOR_CATALOG
        root = Path(django.__file__).parent
        compendia = [
            root / "contrib" / "admin" / "locale" / "de" / "LC_MESSAGES" / "django.po",
            root / "contrib" / "admin" / "locale" / "de" / "LC_MESSAGES" / "djangojs.po",
            root / "conf" / "locale" / "de" / "LC_MESSAGES" / "django.po",
        ]
        with tempfile.TemporaryDirectory() as scratch:
            # makemessages reads the current directory: a copy of unfold, outside any project.
            copy = Path(scratch) / "unfold"
            shutil.copytree(Path(unfold.__file__).parent, copy)
            (copy / "locale").mkdir(exist_ok=True)
            env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
            makemessages = [sys.executable, "-m", "django", "makemessages", "-l", "de", "--no-location"]
            self._run(makemessages, cwd=copy, env=env)
            fresh = copy / "locale" / "de" / "LC_MESSAGES" / "django.po"
            merged = Path(scratch) / "merged.po"
            self._run(
                ["msgmerge", "--quiet", "--no-fuzzy-matching", "--no-location", "--no-wrap"]
                + [f"--compendium={path}" for path in compendia]
                + [str(catalog) if catalog.exists() else str(fresh), str(fresh), "-o", str(merged)]
            )
            catalog.parent.mkdir(parents=True, exist_ok=True)
            self._run(["msgattrib", "--no-obsolete", "--no-wrap", str(merged), "-o", str(catalog)])
        self.stdout.write(f"Wrote {VENDOR_CATALOG}: translate its empty entries, then run compilemessages.")

    def _run(self, command: list[str], **kwargs) -> None:
        # The commands are fixed gettext tools given paths this command made.
        done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # noqa: S603
        if done.returncode:
            raise CommandError(f"{command[0]} failed: {done.stderr.strip()}")
