"""Settings, all from the environment: the image is the same on a laptop and in every stack.

On AWS the hastack boot script (roles/launch_template/templates/user_data.sh.j2) runs the
container with DJANGO_SECRET_KEY read from SSM at boot, the stack's app_environment, and the
HASTACK_* variables below. docs/APP.md lists every variable.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def env_bool(name: str) -> bool:
    """A boolean variable; a typo fails the start instead of silently meaning "off"."""
    value = os.environ.get(name, "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a boolean; use 1 or 0 (true/false, yes/no, on/off)."
        )
    return value in _TRUE


def env_list(name: str) -> list[str]:
    """A comma-separated variable, blanks dropped."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


# Off unless asked for: a container started without settings must not leak tracebacks.
DEBUG = env_bool("DJANGO_DEBUG")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. A hastack stack reads it at boot from the SSM "
            "parameter app_secrets names (/<stack>/django/secret-key); elsewhere set "
            "DJANGO_SECRET_KEY, or DJANGO_DEBUG=1 for local development only."
        )
    SECRET_KEY = "django-insecure-debug-only"  # noqa: S105 - DEBUG only, never in production

# Host names the app answers for. The boot script passes the load balancer's DNS name
# (HASTACK_ALB_DNS_NAME); a custom domain goes in DJANGO_ALLOWED_HOSTS (app_environment).
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
HASTACK_ALB_DNS_NAME = os.environ.get("HASTACK_ALB_DNS_NAME", "").strip().lower()
if HASTACK_ALB_DNS_NAME and HASTACK_ALB_DNS_NAME not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(HASTACK_ALB_DNS_NAME)

# The path the load balancer checks (alb_health_check_path): answered whatever the Host header,
# since the load balancer sends the instance's private IP. A query string in it is ignored.
HASTACK_HEALTH_CHECK_PATH = urlsplit(os.environ.get("HASTACK_HEALTH_CHECK_PATH", "/healthz")).path
if not HASTACK_HEALTH_CHECK_PATH.startswith("/"):
    raise ImproperlyConfigured(
        f"HASTACK_HEALTH_CHECK_PATH={HASTACK_HEALTH_CHECK_PATH!r} must start with '/', "
        "like the load balancer's alb_health_check_path (default /healthz)."
    )

# Who serves a request, set by the boot script from instance metadata; empty off AWS.
HASTACK_INSTANCE_ID = os.environ.get("HASTACK_INSTANCE_ID", "")
HASTACK_AZ = os.environ.get("HASTACK_AZ", "")

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "hastack_app",
]

MIDDLEWARE = [
    # First: the health check must be answered before anything looks at the Host header.
    "hastack_app.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hastack_app.urls"
WSGI_APPLICATION = "hastack_app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

# No database: every instance is interchangeable and holds no state.
DATABASES: dict[str, dict[str, str]] = {}

# Only the load balancer reaches the app (its security group), and it sets this header.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# Static files are served by the app itself (WhiteNoise), collected into the image at build time.
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Everything to stdout, where Docker (and `docker logs`) collects it.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"},
        "one_line": {
            "()": "hastack_app.logs.OneLineFormatter",
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s",
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
        },
        "stdout_one_line": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "one_line",
        },
    },
    "root": {"handlers": ["stdout"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Replaces Django's default handlers (stderr when DEBUG, mail to admins otherwise).
        "django": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        # Scanners send any Host to a public load balancer: one line each, not a traceback.
        "django.security.DisallowedHost": {"handlers": ["stdout_one_line"], "propagate": False},
    },
}
