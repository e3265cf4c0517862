"""The load balancer's health check, answered before Django looks at the Host header."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse

from hastack_app.identity import identity


class HealthCheckMiddleware:
    """Answers HASTACK_HEALTH_CHECK_PATH with 200 whatever the Host header; checks the Host of
    every other request.

    The ALB's health check sends the instance's private IP as Host, which ALLOWED_HOSTS rightly
    refuses (400), and the target would never turn healthy. So this path is answered first,
    and only it: for any other path ``get_host()`` runs here, so even static files (served by
    WhiteNoise, which never asks for the host) answer 400 to a host that is not allowed.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == settings.HASTACK_HEALTH_CHECK_PATH:
            return self.health(request)
        request.get_host()  # raises DisallowedHost: Django answers 400
        return self.get_response(request)

    @staticmethod
    def health(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        response = JsonResponse({"status": "ok", **identity()})
        response["Cache-Control"] = "no-store"
        return response
