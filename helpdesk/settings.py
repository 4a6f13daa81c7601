"""Settings for the helpdesk project, read from the environment.

Everything that differs between a laptop and production comes from an environment
variable with a safe development default: ``DATABASE_URL`` (SQLite by default),
``CELERY_BROKER_URL`` (a filesystem broker that needs no server by default),
``SECRET_KEY``, ``DEBUG`` and ``ALLOWED_HOSTS``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HELPDESK_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DEBUG is off.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "contacts",
    "inbox",
    "routing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "inbox.middleware.AgentMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"

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

WSGI_APPLICATION = "helpdesk.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'helpdesk.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A real worker process must see the test database, so it lives in a file, and
    # concurrent writers (web + worker) wait for the lock instead of failing at once.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español"), ("pt", "Português"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox:list"
LOGOUT_REDIRECT_URL = "login"

# Largest request body we accept; a bigger message is refused with a clear 413/400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "inbox.api.schema.ApiAutoSchema",
    "DEFAULT_PARSER_CLASSES": ["inbox.api.parsers.SafeJSONParser"],
    "EXCEPTION_HANDLER": "inbox.api.exceptions.api_exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Generous: a guard against runaway clients, not a quota. Integrations post one request per
    # contact message; raise API_THROTTLE_USER for big imports.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "600/minute"),
        "user": env_str("API_THROTTLE_USER", "6000/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Helpdesk API",
    "DESCRIPTION": "Conversations, contacts and routing workflows.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "inbox.models.Conversation.Status",
        "RunStatusEnum": "routing.models.Run.Status",
    },
}

# Celery: CELERY_BROKER_URL selects Redis (or RabbitMQ); the default is a filesystem
# broker under var/ so `make run` needs no server.
BROKER_DIR = Path(os.environ.get("CELERY_BROKER_DIR", VAR_DIR / "broker"))
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("out", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
        # The filesystem transport polls its folder; the default second adds up hop by hop.
        "polling_interval": 0.1,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # The database is the truth for delayed work; these sweeps fire what is due.
    "fire-due-timers": {"task": "routing.tasks.fire_due_timers", "schedule": 1.0, "kwargs": {"look_ahead": 1.0}},
    "deliver-due-messages": {"task": "inbox.tasks.deliver_due_messages", "schedule": 10.0},
    "requeue-stalled-runs": {"task": "routing.tasks.requeue_stalled_runs", "schedule": 30.0},
    # Queues drain on events (agent online, capacity freed); this catches shifts starting.
    "drain-team-queues": {"task": "inbox.tasks.drain_queues", "schedule": 10.0},
    "mark-idle-agents-offline": {"task": "inbox.tasks.mark_idle_agents_offline", "schedule": 60.0},
}

# A web-chat visitor may send this many messages a minute (an address ten times as many).
WEBCHAT_MESSAGES_PER_MINUTE = env_int("WEBCHAT_MESSAGES_PER_MINUTE", 20)

# Agents online in the inbox but inactive this long go offline.
AGENT_IDLE_MINUTES = env_int("AGENT_IDLE_MINUTES", 30)

# Engine limits: a run never spins forever.
ROUTING_MAX_STEPS_PER_ADVANCE = env_int("ROUTING_MAX_STEPS_PER_ADVANCE", 200)
ROUTING_MAX_JUMPS = env_int("ROUTING_MAX_JUMPS", 20)
ROUTING_MAX_REPEATS_WITHOUT_WAIT = env_int("ROUTING_MAX_REPEATS_WITHOUT_WAIT", 10)
MESSAGE_MAX_LENGTH = env_int("MESSAGE_MAX_LENGTH", 100_000)

# The HTTP request step (routing/steps/http.py, routing/ssrf.py). Internal addresses (loopback,
# private, link-local ...) are refused unless a host or network is allowlisted here
# (comma-separated, e.g. "crm.internal,10.0.0.0/8") or in the admin (Routing → HTTP allowlist).
HTTP_REQUEST_ALLOWLIST = env_list("HTTP_REQUEST_ALLOWLIST")
HTTP_REQUEST_CONNECT_TIMEOUT = float(env_str("HTTP_REQUEST_CONNECT_TIMEOUT", "3"))
HTTP_REQUEST_READ_TIMEOUT = float(env_str("HTTP_REQUEST_READ_TIMEOUT", "10"))
HTTP_REQUEST_TOTAL_TIMEOUT = float(env_str("HTTP_REQUEST_TOTAL_TIMEOUT", "20"))
HTTP_REQUEST_MAX_BYTES = env_int("HTTP_REQUEST_MAX_BYTES", 1024 * 1024)
HTTP_REQUEST_MAX_REDIRECTS = env_int("HTTP_REQUEST_MAX_REDIRECTS", 5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
