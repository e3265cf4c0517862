"""gunicorn settings of the container. Command-line options override them (the tests bind
127.0.0.1 this way)."""

import multiprocessing
import os

# app_port of the stack: the boot script passes it, and publishes the same port on the host.
bind = [f"0.0.0.0:{int(os.environ.get('HASTACK_APP_PORT', '8000'))}"]
wsgi_app = "hastack_app.wsgi:application"

# Load the app once, in the master, before forking: a bad setting (no DJANGO_SECRET_KEY) stops
# the server at start with Django's message instead of workers dying one after another.
preload_app = True
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Sync workers close every connection after its response, so the load balancer never reuses a
# connection the app is closing (the 502s a keep-alive shorter than the ALB's idle timeout gives).
worker_class = "sync"
timeout = 30
graceful_timeout = 20
# Worker heartbeats in memory, not on the container's overlay file system (gunicorn's advice).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# No runtime control socket (gunicorn 25+ would create one under $HOME): `docker exec` is enough.
control_socket_disable = True

# Logs to stdout, where Docker collects them: access lines with the client the ALB saw.
accesslog = "-"
access_log_format = '%({x-forwarded-for}i)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
logconfig_dict = {
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}
