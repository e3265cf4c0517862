"""The front page says which instance served it: reloads show the load balancer's spread."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from hastack_app.identity import identity


@require_safe
@never_cache  # every reload goes to the load balancer, which may pick another instance
def index(request: HttpRequest) -> HttpResponse:
    served_by = identity()
    context = {"served_by": served_by, "health_path": settings.HASTACK_HEALTH_CHECK_PATH}
    response = render(request, "hastack_app/index.html", context)
    response["X-Served-By"] = served_by["instance_id"] or served_by["hostname"]
    return response
