"""Loaded once by the render sandbox's fork server, so that every child it forks starts set up."""

import django

django.setup()
