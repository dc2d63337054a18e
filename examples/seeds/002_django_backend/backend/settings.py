"""Settings of the poker backend's scheduling, rebuilt on cronwell (seed 002).

The database is ``DJANGO_DATABASE_URL`` (``sqlite:///path`` or ``postgresql://…``; default
``db.sqlite3`` here); cronwell keeps its tables beside the app's.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
_url = urlsplit(os.environ.get("DJANGO_DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))
if _url.scheme == "sqlite":
    _path = Path(unquote(_url.path.removeprefix("/")))
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _path}}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(_url.path.removeprefix("/")),
            "USER": unquote(_url.username or ""),
            "PASSWORD": unquote(_url.password or ""),
            "HOST": _url.hostname or "",
            "PORT": str(_url.port or ""),
        }
    }

SECRET_KEY = "seed-002-example-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "cronwell.contrib.django",  # the scheduler: replaces app_scheduler and django-apscheduler
    "poker_event",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "backend.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
TIME_ZONE = "Australia/Sydney"  # cronwell's zone too
USE_TZ = True

# when upcoming sessions are generated: 05:00 Sydney time, as the seed did
GAME_SESSIONS_CRON = os.environ.get("GAME_SESSIONS_CRON", "0 5 * * *")
GAME_SESSIONS_LOOKAHEAD_DAYS = 14

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"cronwell": {"handlers": ["console"], "level": "INFO"}},
}
