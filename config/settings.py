"""Campanile settings: every value comes from the environment, read here and nowhere else."""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from botocore.config import Config as BotocoreConfig
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A .env file (written by `make run` for local development, or copied from .env.example) fills in
# what the real environment leaves unset. DJANGO_ENV_FILE names another file; empty reads none,
# as the tests do: a developer's local settings must never change a test's outcome.
ENV_FILE = os.environ.get("DJANGO_ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    env.read_env(ENV_FILE)


def env_or_default(name: str, default, cast=env.str):
    """Read a variable, treating an empty value (as in a copied .env.example) as unset."""
    return cast(name) if os.environ.get(name, "").strip() else default


DEBUG = env_or_default("DJANGO_DEBUG", False, env.bool)

# Production must bring its own key; only a debug run may fall back to a throwaway one.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"  # noqa: S105
# Earlier keys, still accepted for signatures (links in mail already sent) while the new key signs.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])

PUBLIC_BASE_URL = env_or_default("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_public_host = urlsplit(PUBLIC_BASE_URL).hostname or "127.0.0.1"
ALLOWED_HOSTS = env_or_default("DJANGO_ALLOWED_HOSTS", [_public_host, "127.0.0.1", "localhost"], env.list)
CSRF_TRUSTED_ORIGINS = env_or_default("DJANGO_CSRF_TRUSTED_ORIGINS", [PUBLIC_BASE_URL], env.list)

INSTALLED_APPS = [
    # The admin's look, sidebar and dashboard (django-unfold); before Django's admin, whose
    # templates it replaces. Its basic config: the default one would put its own site in place of
    # Campanile's (console/sites.py), and with it the second factor.
    "unfold.apps.BasicAppConfig",
    "unfold.contrib.filters",
    # Django's admin, on Campanile's own site (console/sites.py): it asks staff for a second factor.
    "console.apps.CampanileAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Installed for its abstract key model (core.ApiKey); its own APIKey stays unused.
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    # Failed admin logins counted and locked out (django-axes); the second factor (django-otp).
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # The Content-Security-Policy header (django-csp).
    "csp",
    "core",
    "campaigns",
    "delivery",
    "tracking",
    "loadtest",
    "console",
]

MIDDLEWARE = [
    # First: a TLS header that no trusted proxy sent is gone before anything asks is_secure().
    "core.http.ProxySSLHeaderMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Django-csp's middleware, with the admin's looser script and style rules (core/csp.py).
    "core.csp.CampanileCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the one a person chose (the admin's switcher sets a cookie), else the
    # browser's Accept-Language among LANGUAGES, else LANGUAGE_CODE.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": environ.Env.db_url_config(
        env_or_default("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file in the embedded setup: wait for the lock instead
    # of failing, and take the write lock at BEGIN so two writers never deadlock on an upgrade.
    # In WAL mode, synchronous=NORMAL syncs at checkpoints rather than on every commit: still never
    # corrupt, and a process crash loses nothing (only a power cut can lose the last commits),
    # while the default FULL made every commit wait for the disk and capped the local stack at
    # about 45 writes a second.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES["default"]["CONN_MAX_AGE"] = env_or_default("DATABASE_CONN_MAX_AGE", 60, env.int)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# Parallel test processes (pytest-xdist: gw0, gw1, …) each get a Redis database of their own, as
# each gets a PostgreSQL one: one's limiter, hit queue and counters must never meet another's.
if REDIS_URL and (_worker := os.environ.get("PYTEST_XDIST_WORKER", "")).startswith("gw"):
    _url = urlsplit(REDIS_URL)
    _db = (int(_url.path.strip("/") or 0) + int(_worker[2:])) % 16
    REDIS_URL = _url._replace(path=f"/{_db}").geturl()
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-axes' backend first: it refuses a locked-out username and address before any password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
#: The languages of the admin and the public pages (locale/ holds Campanile's own German).
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
# The project's catalog first; then German for django-unfold's own strings (manage.py unfoldmessages).
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale" / "vendor"]
TIME_ZONE = env_or_default("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT: Path | None = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_or_default("LOG_LEVEL", "INFO")},
    # A line per task received and per task done, every second for the message dispatcher, would
    # bury what matters; failures still show at WARNING and above.
    "loggers": {
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        # runserver's line per request (make run): the tracking pixel and the SES webhook alone make
        # dozens a second. Client and server errors still show.
        "django.server": {"level": "WARNING"},
    },
}

# --- Admin login and HTTP hardening -------------------------------------------------------------
# Proxies (load balancers) in front of the web processes, as networks: behind them the client's
# address is read from X-Forwarded-For (core/http.py). Empty: REMOTE_ADDR is the client.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
try:
    TRUSTED_PROXY_NETWORKS = tuple(ipaddress.ip_network(network) for network in TRUSTED_PROXIES)
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from None
# Failed admin logins are counted per username and client address together (the address from
# core/http.py, so through TRUSTED_PROXIES only): after ADMIN_LOGIN_FAILURE_LIMIT failures that pair
# is locked out for ADMIN_LOGIN_COOLOFF_MINUTES from its last failure. Per pair, so that nobody can
# lock a colleague out from elsewhere by typing their username; guesses spread over many addresses
# meet the password validators and the second factor instead.
ADMIN_LOGIN_FAILURE_LIMIT = env_or_default("ADMIN_LOGIN_FAILURE_LIMIT", 5, env.int)
ADMIN_LOGIN_COOLOFF_MINUTES = env_or_default("ADMIN_LOGIN_COOLOFF_MINUTES", 15, env.int)
if ADMIN_LOGIN_FAILURE_LIMIT < 1 or ADMIN_LOGIN_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured("ADMIN_LOGIN_FAILURE_LIMIT and ADMIN_LOGIN_COOLOFF_MINUTES must be 1 or more.")
# Where a login lands when its `next` is refused (another site): the admin, not Django's profile page.
LOGIN_REDIRECT_URL = "admin:index"
AXES_FAILURE_LIMIT = ADMIN_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=ADMIN_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "core.http.client_address"
AXES_LOCKOUT_CALLABLE = "console.login.lockout_response"
AXES_USERNAME_CALLABLE = "console.login.axes_username"
# Tries made while locked out are refused unread and do not push the end of the lockout back, so
# the time the lockout page gives stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A successful login clears that pair's failures: five typos a week never add up to a lockout.
AXES_RESET_ON_SUCCESS = True
# No banner on every manage.py command; failures and lockouts are still logged, as warnings.
AXES_VERBOSE = False
# Staff reach the admin only after a second factor (a TOTP app, or a backup code): required unless
# debug is on, where `make run`'s demo login (admin / campanile) has none. A user who enrolled a
# device is asked for it either way.
ADMIN_REQUIRE_SECOND_FACTOR = env_or_default("ADMIN_REQUIRE_SECOND_FACTOR", not DEBUG, env.bool)
OTP_TOTP_ISSUER = "Campanile"
# The admin's device pages never show another person's secret key or QR code.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Browsers reach Campanile over HTTPS only, once it is served over HTTPS (PUBLIC_BASE_URL): HSTS
# for a year, and plain-HTTP requests redirected, except the probes of /healthz and /metrics that
# load balancers and Prometheus make over the internal network. includeSubDomains and preload bind
# every subdomain of the operator's domain (preload for good): their call, so opt-in.
_served_over_https = PUBLIC_BASE_URL.startswith("https://") and not DEBUG
SECURE_HSTS_SECONDS = env_or_default("SECURE_HSTS_SECONDS", 31_536_000 if _served_over_https else 0, env.int)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_or_default("SECURE_HSTS_INCLUDE_SUBDOMAINS", False, env.bool)
SECURE_HSTS_PRELOAD = env_or_default("SECURE_HSTS_PRELOAD", False, env.bool)
SECURE_SSL_REDIRECT = env_or_default("SECURE_SSL_REDIRECT", _served_over_https, env.bool)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# Behind a proxy that ends TLS, the header it sets to say the request came over HTTPS; believed only
# from TRUSTED_PROXIES (core.http.ProxySSLHeaderMiddleware drops it from anyone else).
_proxy_ssl_header = env_or_default("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto" if TRUSTED_PROXIES else "")
if _proxy_ssl_header and not TRUSTED_PROXIES:
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER needs TRUSTED_PROXIES: only their header counts.")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
# Cookies: never over plain HTTP outside debug (browsers still accept them on http://localhost);
# the session's never readable by script; both sent on top-level navigation only (Lax).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
# A click's redirect tells the link's site nothing of the tracking URL it came through.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# What a page may load: scripts and styles from Campanile's own origin only (an inline <style> only
# with the response's nonce), images also as data: URLs; no plugins, no framing, forms post here.
# The email preview loosens styles and images for its sandboxed frame (campaigns/admin.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "report-uri": env.list("CSP_REPORT_URI", default=[]) or None,
    },
}
# Advice for the operator's own choice, above: includeSubDomains and preload.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]

# --- The admin's look and navigation (django-unfold) ---------------------------------------------
# Navigation by task, not by app (console/navigation.py); the theme's colours come from a static
# stylesheet, so no page needs an inline <style> without the policy's nonce.
UNFOLD = {
    "SITE_TITLE": "Campanile",
    "SITE_HEADER": "Campanile",
    "SITE_SUBHEADER": gettext_lazy("Email campaigns"),
    "SITE_SYMBOL": "campaign",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "STYLES": ["console.navigation.theme_stylesheet", "console.navigation.console_stylesheet"],
    "SCRIPTS": ["console.navigation.htmx_config_script", "console.navigation.charts_script"],
    "DASHBOARD_CALLBACK": "console.dashboard.dashboard_callback",
    # The language switcher in the user menu (Django's set_language view, config/urls.py).
    "SHOW_LANGUAGES": True,
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "console.navigation.sidebar_navigation",
    },
}

# --- Integration API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["core.api.auth.ApiKeyAuthentication"],
    # A key, then the scope the operation needs (core/api/scopes.py).
    "DEFAULT_PERMISSION_CLASSES": ["core.api.auth.HasApiKey", "core.api.scopes.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["core.api.auth.ApiKeyRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.CursorPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.filters.QueryChecked",
        "django_filters.rest_framework.DjangoFilterBackend",
        "core.api.pagination.UniqueOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.ScopedAutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON alone, but where a file is sent (contacts/import): a form cannot carry nested fields
    # (a campaign's steps, a message's tags), reads a box left out as false and a list left out as
    # empty, and keeps the last of a field sent twice. Each is a silent change to what was meant.
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser"],
    "PAGE_SIZE": 100,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Requests a key may make, unless the key sets its own (N/second, N/minute, N/hour or N/day).
# Counted in Redis when REDIS_URL is set (one budget across every web process), else per process.
# Checked at start-up by core.checks.
API_DEFAULT_RATE_LIMIT = env_or_default("API_DEFAULT_RATE_LIMIT", "600/minute")
# How long a web process trusts a key it has verified before reading it again: a revoked or
# changed key keeps working in other processes for up to this long. 0 reads it on every request.
API_KEY_CACHE_SECONDS = env_or_default("API_KEY_CACHE_SECONDS", 5.0, env.float)
SPECTACULAR_SETTINGS = {
    "TITLE": "Campanile API",
    "DESCRIPTION": "Contacts, lists, templates, campaigns and transactional messages.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ContactStatusEnum": "campaigns.models.Contact.Status",
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
    },
}

# --- Celery -------------------------------------------------------------------------------------
# The embedded default is kombu's filesystem transport: web, worker and beat on one machine share a
# folder and no broker server is needed. Any kombu URL (redis://, amqp://) replaces it.
CELERY_BROKER_URL = env_or_default("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A worker or beat that loses the broker logs it and keeps reconnecting, with backoff, until the
# broker is back, rather than exiting (and, under `make run`, taking every other process with it).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Celery 6's default, chosen now: it only matters for late-acknowledged tasks (we have none), and
# leaving it unset prints a deprecation notice on every reconnection.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

# A campaign found more than this long past its schedule (workers were down) is paused for a
# person to confirm instead of sent; 0 sends however late.
CAMPAIGN_LATE_START_SECONDS = env_or_default("CAMPAIGN_LATE_START_SECONDS", 3600, env.int)
# How often beat looks for due campaigns and stalled work.
CAMPAIGN_TICK_SECONDS = env_or_default("CAMPAIGN_TICK_SECONDS", 5.0, env.float)
# How often beat starts a sender for pending transactional messages: their longest wait in queue.
MESSAGE_DISPATCH_SECONDS = env_or_default("MESSAGE_DISPATCH_SECONDS", 1.0, env.float)
# How often beat starts applying stored SES events: the longest an event waits to take effect.
SNS_APPLY_SECONDS = env_or_default("SNS_APPLY_SECONDS", 1.0, env.float)
SNS_APPLY_BUDGET_SECONDS = 10 * SNS_APPLY_SECONDS
CELERY_BEAT_SCHEDULE = {
    "campaigns-dispatch-due": {
        "task": "delivery.tasks.campaigns_dispatch_due",
        "schedule": CAMPAIGN_TICK_SECONDS,
    },
    "messages-dispatch": {
        "task": "delivery.tasks.messages_dispatch",
        "schedule": MESSAGE_DISPATCH_SECONDS,
        # A tick that waited longer than this behind busy workers is dropped; the next one comes.
        "options": {"expires": 10 * MESSAGE_DISPATCH_SECONDS},
    },
    # Opens and clicks recorded by the tracking views, turned into events in bulk.
    "tracking-hits-apply": {
        "task": "tracking.tasks.tracking_hits_apply",
        "schedule": 5.0,
        "options": {"expires": 50.0},
    },
    # SES events stored by the webhook: the stored rows are the queue, no broker message each.
    "sns-messages-apply": {
        "task": "tracking.tasks.sns_messages_apply",
        "schedule": SNS_APPLY_SECONDS,
        "options": {"expires": 10 * SNS_APPLY_SECONDS},
    },
    # Unknown rows SES demonstrably never took go back to pending (docs: delivery guarantees).
    "unknown-rows-resolve": {"task": "tracking.tasks.unknown_rows_resolve", "schedule": 60.0},
    # Contact imports whose worker went away resume from their last committed chunk.
    "contact-imports-resume": {"task": "campaigns.tasks.contact_imports_resume", "schedule": 60.0},
    # Signups a form took whose task never came (the broker was away) are decided on.
    "signups-process-waiting": {"task": "tracking.tasks.signups_process_waiting", "schedule": 60.0},
    # Signups nobody confirmed, and the pending contacts only they kept, are deleted once expired.
    "signups-expire": {"task": "tracking.tasks.signups_expire", "schedule": 3600.0},
}

# Drips: a row settled this long after it was sent (a lease swept, an SES event reconciling an
# unknown row) still moves its contact on; older stragglers wait for a full pass.
DRIP_LATE_SECONDS = env_or_default("DRIP_LATE_SECONDS", 86400, env.int)
# Marketing emails (campaign mail, not transactional) per contact, across campaigns, in any 24
# hours and any 7 days; more wait (never dropped). 0: no cap.
MARKETING_MAX_PER_DAY = env_or_default("MARKETING_MAX_PER_DAY", 0, env.int)
MARKETING_MAX_PER_WEEK = env_or_default("MARKETING_MAX_PER_WEEK", 0, env.int)
# Bounds on one email's render (campaigns/render_limits.py): characters produced, counted across
# its subject, HTML and text, and CPU seconds. A template that passes either for a sample contact
# is refused when saved; one that passes it for a contact's data fails that email only.
TEMPLATE_MAX_OUTPUT_CHARS = env_or_default("TEMPLATE_MAX_OUTPUT_CHARS", 2_000_000, env.int)
TEMPLATE_RENDER_MAX_SECONDS = env_or_default("TEMPLATE_RENDER_MAX_SECONDS", 0.5, env.float)
# Renders run in child processes the kernel bounds (campaigns/render_sandbox.py): how many each
# process keeps, and the memory each may use beyond what it holds when it starts.
TEMPLATE_RENDER_PROCESSES = env_or_default("TEMPLATE_RENDER_PROCESSES", 2, env.int)
TEMPLATE_RENDER_MAX_MEMORY_MB = env_or_default("TEMPLATE_RENDER_MAX_MEMORY_MB", 256, env.int)
# An uploaded Excel workbook is read once, in a child process bounded the same way
# (campaigns/import_workbooks.py): the CPU seconds and memory its read may take.
IMPORT_WORKBOOK_MAX_SECONDS = env_or_default("IMPORT_WORKBOOK_MAX_SECONDS", 180, env.int)
IMPORT_WORKBOOK_MAX_MEMORY_MB = env_or_default("IMPORT_WORKBOOK_MAX_MEMORY_MB", 1024, env.int)

# --- Operator metrics ---------------------------------------------------------------------------
# How often each process adds its counts to the fleet's store (Redis, or the database); 0: only
# when asked (tests).
METRICS_FLUSH_SECONDS = env_or_default("METRICS_FLUSH_SECONDS", 1.0, env.float)
# /metrics answers a request bearing this token ("Authorization: Bearer …"), or coming from one of
# these networks; anything else gets 403.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The Redis hash holding the fleet's counters (with REDIS_URL; else a database table).
METRICS_REDIS_KEY = env_or_default("METRICS_REDIS_KEY", "campanile:metrics")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
try:
    METRICS_NETWORKS = tuple(ipaddress.ip_network(network) for network in METRICS_ALLOWED_NETWORKS)
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from None

# CloudWatch: publish recent campaigns' delivered, bounces, complaints, unique opens and clicks to
# this namespace every CLOUDWATCH_PUBLISH_SECONDS (needs cloudwatch:PutMetricData). Empty: off.
CLOUDWATCH_NAMESPACE = env.str("CLOUDWATCH_NAMESPACE", default="")
CLOUDWATCH_PUBLISH_SECONDS = env_or_default("CLOUDWATCH_PUBLISH_SECONDS", 300, env.int)
# Completed campaigns keep being published for this many days.
CLOUDWATCH_CAMPAIGN_DAYS = env_or_default("CLOUDWATCH_CAMPAIGN_DAYS", 2, env.int)

# Alerts: checked every ALERT_CHECK_SECONDS on campaigns sending or completed in the last two
# days, once they have sent SES_REPUTATION_MIN_SENT. Bounce and complaint rates use the reputation
# guard's limits; an open or click rate below (1 - ALERT_DROP_RATIO) of the sender's average over
# its last ALERT_TRAILING_CAMPAIGNS completed campaigns raises one, ALERT_ENGAGEMENT_AFTER_HOURS
# after the campaign started. ALERT_EMAILS: staff addresses that get each alert by email.
ALERT_CHECK_SECONDS = env_or_default("ALERT_CHECK_SECONDS", 900, env.int)
ALERT_DROP_RATIO = env_or_default("ALERT_DROP_RATIO", 0.5, env.float)
ALERT_TRAILING_CAMPAIGNS = env_or_default("ALERT_TRAILING_CAMPAIGNS", 5, env.int)
ALERT_ENGAGEMENT_AFTER_HOURS = env_or_default("ALERT_ENGAGEMENT_AFTER_HOURS", 24, env.int)
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])

# --- SES events (SNS webhook) -------------------------------------------------------------------
# SNS topics whose messages are trusted, as full ARNs; anything else gets 403, confirmations too.
SES_SNS_TOPIC_ARNS = env.list("SES_SNS_TOPIC_ARNS", default=[])
# Oldest SNS message accepted, in seconds (plus five minutes of clock skew).
SNS_MAX_MESSAGE_AGE = env_or_default("SNS_MAX_MESSAGE_AGE", 3600, env.int)
# 2 refuses SHA1-signed (version 1) messages: set it once the topic's SignatureVersion is 2.
SNS_MIN_SIGNATURE_VERSION = env_or_default("SNS_MIN_SIGNATURE_VERSION", 1, env.int)
# Development only, for the local stand-in that cannot sign: every unverified message is logged.
SNS_VERIFY_SIGNATURES = env.bool("SNS_VERIFY_SIGNATURES", default=True)
if not SNS_VERIFY_SIGNATURES and not DEBUG:
    raise ImproperlyConfigured("SNS_VERIFY_SIGNATURES can only be turned off with DJANGO_DEBUG on.")
# Development only: a PEM certificate (the local SES stand-in's) trusted for SNS messages whose
# SigningCertURL names its fingerprint, so local events go through the whole verification.
SNS_DEV_CERTIFICATE = env.str("SNS_DEV_CERTIFICATE", default="")
if SNS_DEV_CERTIFICATE:
    SNS_DEV_CERTIFICATE = str(BASE_DIR / SNS_DEV_CERTIFICATE)  # Relative paths are the project's.
if SNS_DEV_CERTIFICATE and not DEBUG:
    raise ImproperlyConfigured("SNS_DEV_CERTIFICATE can only be set with DJANGO_DEBUG on.")
# The most distinct web links one email may have tracked: each is a row of delivery_trackedlink,
# per recipient when its address holds the contact's data. An email with more fails with the reason.
TRACKING_MAX_LINKS = env_or_default("TRACKING_MAX_LINKS", 500, env.int)
# How opens and clicks keep the reader's IP address: truncate (the /24 or /48 network), hash, none.
TRACKING_IP_MODE = env.str("TRACKING_IP_MODE", default="truncate")
if TRACKING_IP_MODE not in ("truncate", "hash", "none"):
    raise ImproperlyConfigured("TRACKING_IP_MODE must be truncate, hash or none.")
# Who the preference page (behind the unsubscribe link) speaks for: a name (else the sender's name
# on the email) and an https URL of a logo.
BRAND_NAME = env.str("BRAND_NAME", default="")
BRAND_LOGO_URL = env.str("BRAND_LOGO_URL", default="")
if BRAND_LOGO_URL:
    try:  # Its origin goes into the page's Content-Security-Policy: a URL, and nothing else.
        URLValidator(schemes=["https"])(BRAND_LOGO_URL)
    except ValidationError:
        raise ImproperlyConfigured("BRAND_LOGO_URL must be an https:// URL.") from None
# Signup forms: how long a confirmation link stays good (an unconfirmed contact is deleted then),
# and how often one address may be sent a confirmation, one network may sign up (per hour).
SIGNUP_CONFIRM_DAYS = env_or_default("SIGNUP_CONFIRM_DAYS", 7, env.int)
SIGNUP_MAX_PER_ADDRESS = env_or_default("SIGNUP_MAX_PER_ADDRESS", 3, env.int)
SIGNUP_MAX_PER_IP = env_or_default("SIGNUP_MAX_PER_IP", 20, env.int)
# A dotted path to a function(request) -> bool that checks a form's captcha (Turnstile, hCaptcha…),
# and the widget's HTML the form pages show; forms ask for it only when the marketer ticks it.
SIGNUP_CAPTCHA_CHECK = env.str("SIGNUP_CAPTCHA_CHECK", default="")
SIGNUP_CAPTCHA_HTML = env.str("SIGNUP_CAPTCHA_HTML", default="")
# The captcha provider's origins, allowed scripts, frames and requests on a form's page (its CSP).
SIGNUP_CAPTCHA_ORIGINS = env.list("SIGNUP_CAPTCHA_ORIGINS", default=[])
if min(SIGNUP_CONFIRM_DAYS, SIGNUP_MAX_PER_ADDRESS, SIGNUP_MAX_PER_IP) < 1:
    raise ImproperlyConfigured(
        "SIGNUP_CONFIRM_DAYS, SIGNUP_MAX_PER_ADDRESS and SIGNUP_MAX_PER_IP must be at least 1."
    )
# Networks whose pixel fetches are a mail provider's proxy, not a reader: Apple's 17.0.0.0/8,
# where Mail Privacy Protection fetches from.
TRACKING_PROXY_NETWORKS = env.list("TRACKING_PROXY_NETWORKS", default=["17.0.0.0/8"])
try:
    [ipaddress.ip_network(network) for network in TRACKING_PROXY_NETWORKS]
except ValueError as exc:
    raise ImproperlyConfigured(f"TRACKING_PROXY_NETWORKS: {exc}") from None
# The Redis list the tracking views push hits to (with REDIS_URL; else a database table).
TRACKING_HITS_REDIS_KEY = "campanile:hits"
# Our SES account id: events naming another sendingAccountId are ignored. Empty: not checked.
SES_ACCOUNT_ID = env.str("SES_ACCOUNT_ID", default="")
# How long an event without Campanile's tag waits for a ledger row with its SES MessageId.
SES_EVENT_WAIT_SECONDS = env_or_default("SES_EVENT_WAIT_SECONDS", 3600, env.int)
# An unknown row with no Send event this long after its call began, in a configuration set that
# publishes Send events, goes back to pending once later calls' Send events have arrived.
SES_UNKNOWN_RESOLVE_SECONDS = env_or_default("SES_UNKNOWN_RESOLVE_SECONDS", 900, env.int)
# Soft bounces in a row (no delivery between) after which an address is suppressed.
SES_SOFT_BOUNCE_LIMIT = env_or_default("SES_SOFT_BOUNCE_LIMIT", 3, env.int)
# Reputation guard: a sending campaign pauses above these rates, once it has sent enough to judge.
SES_BOUNCE_RATE_LIMIT = env_or_default("SES_BOUNCE_RATE_LIMIT", 0.04, env.float)
SES_COMPLAINT_RATE_LIMIT = env_or_default("SES_COMPLAINT_RATE_LIMIT", 0.0008, env.float)
SES_REPUTATION_MIN_SENT = env_or_default("SES_REPUTATION_MIN_SENT", 200, env.int)
# The window of a configuration set's rolling rates (its campaigns pause together).
SES_REPUTATION_WINDOW_HOURS = env_or_default("SES_REPUTATION_WINDOW_HOURS", 24, env.int)
# Two-way sync with SES's account-level suppression list every this many seconds; 0: off.
SES_SUPPRESSION_SYNC_SECONDS = env_or_default("SES_SUPPRESSION_SYNC_SECONDS", 0, env.int)
# The fleet's counters, minute by minute, for the delivery dashboard.
CELERY_BEAT_SCHEDULE["metrics-snapshot"] = {"task": "core.tasks.metrics_snapshot", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["tallies-compact"] = {"task": "core.tasks.tallies_compact", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["alerts-check"] = {
    "task": "tracking.tasks.alerts_check",
    "schedule": float(ALERT_CHECK_SECONDS),
}
if CLOUDWATCH_NAMESPACE:
    CELERY_BEAT_SCHEDULE["cloudwatch-publish"] = {
        "task": "tracking.tasks.campaign_metrics_publish",
        "schedule": float(CLOUDWATCH_PUBLISH_SECONDS),
    }
if SES_SUPPRESSION_SYNC_SECONDS:
    CELERY_BEAT_SCHEDULE["ses-suppressions-sync"] = {
        "task": "tracking.tasks.suppressions_sync_ses",
        "schedule": float(SES_SUPPRESSION_SYNC_SECONDS),
    }

# --- Sending ------------------------------------------------------------------------------------
AWS_REGION = env_or_default("AWS_REGION", "us-east-1")
# boto3 reads AWS_ENDPOINT_URL itself; it is passed explicitly so the SES client and the stand-in
# command agree even when another AWS_ENDPOINT_URL_<SERVICE> variable is set.
AWS_ENDPOINT_URL = env.str("AWS_ENDPOINT_URL", default="") or None
SES_CONFIGURATION_SET = env.str("SES_CONFIGURATION_SET", default="")

# An address for List-Unsubscribe's mailto: form, beside the one-click https link; empty: none.
# Mail to it must reach someone: Campanile does not read that mailbox.
UNSUBSCRIBE_MAILTO = env.str("UNSUBSCRIBE_MAILTO", default="")
DEFAULT_FROM_EMAIL = env_or_default("DEFAULT_FROM_EMAIL", "Campanile Demo <demo@campanile.test>")

EMAIL_BACKEND = "django_ses.SESBackend"
AWS_SES_REGION_NAME = AWS_REGION
AWS_SES_REGION_ENDPOINT_URL = AWS_ENDPOINT_URL
# django-ses's throttle counts sends per process, so N workers would send N times too fast; the
# delivery engine owns the rate instead.
AWS_SES_AUTO_THROTTLE = None
# SES calls one send task keeps in flight at once (threads over one SES client). For full speed,
# at least 1.3 × rate × SES latency across the fleet, e.g. 8 per worker for 100/s at 50 ms.
SEND_CONCURRENCY = env_or_default("SEND_CONCURRENCY", 4, env.int)

# SendRawEmail has no idempotency token: an SDK retry after a read timeout can mail twice, so the
# send call is never retried by botocore and the ledger decides instead.
AWS_SES_CONFIG = BotocoreConfig(
    connect_timeout=env_or_default("SES_CONNECT_TIMEOUT", 5.0, env.float),
    read_timeout=env_or_default("SES_READ_TIMEOUT", 15.0, env.float),
    retries={"total_max_attempts": 1, "mode": "standard"},
    # One kept-alive connection per sending thread; with fewer, urllib3 drops the surplus after
    # each call and the next one opens a new connection.
    max_pool_connections=max(10, SEND_CONCURRENCY),
)

# The fleet's sending rate (emails per second across every worker). 0 reads SES's MaxSendRate and
# keeps SES_RATE_SAFETY_FACTOR of it, re-reading the quota every SES_QUOTA_REFRESH_SECONDS.
SES_MAX_SEND_RATE = env_or_default("SES_MAX_SEND_RATE", 0.0, env.float)
SES_RATE_SAFETY_FACTOR = env_or_default("SES_RATE_SAFETY_FACTOR", 0.9, env.float)
SES_QUOTA_REFRESH_SECONDS = env_or_default("SES_QUOTA_REFRESH_SECONDS", 60.0, env.float)
# Where the rate limiter keeps its shared timeline in Redis: one per SES account and region.
SEND_RATE_REDIS_KEY = "campanile:send-rate"

# How long all sending stops when SES says the 24-hour quota is used up, before trying again.
SES_QUOTA_PAUSE_SECONDS = env_or_default("SES_QUOTA_PAUSE_SECONDS", 900, env.int)
# SES errors in a row (rejections, render failures) after which a campaign pauses itself.
SEND_MAX_CONSECUTIVE_ERRORS = env_or_default("SEND_MAX_CONSECUTIVE_ERRORS", 10, env.int)

# Rows claimed by one send task, and how long a claim lasts before the row counts as stalled.
SEND_BATCH_SIZE = env_or_default("SEND_BATCH_SIZE", 50, env.int)
SEND_LEASE_SECONDS = env_or_default("SEND_LEASE_SECONDS", 300, env.int)
# Transactional mail has its own queue so a big campaign never delays a password reset; run
# workers with `--queues transactional,celery`.
CELERY_TRANSACTIONAL_QUEUE = "transactional"
CELERY_TASK_ROUTES = {"delivery.tasks.messages_dispatch": {"queue": CELERY_TRANSACTIONAL_QUEUE}}
# How long one send task keeps claiming batches before it hands over to the next tick.
SEND_TASK_BUDGET_SECONDS = env_or_default("SEND_TASK_BUDGET_SECONDS", 30.0, env.float)
