"""URLs. The health endpoint is not here: HealthCheckMiddleware answers it before any other code
(and before the Host header is checked); see middleware.py."""

from django.urls import path

from hastack_app import views

urlpatterns = [
    path("", views.index, name="index"),
]
