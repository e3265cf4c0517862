"""WSGI entry point gunicorn serves (gunicorn.conf.py: wsgi_app)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hastack_app.settings")

application = get_wsgi_application()
