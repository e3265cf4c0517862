"""Which instance and container serve a request: what makes the load balancer's spread visible."""

import socket

from django.conf import settings

from hastack_app import __version__


def identity() -> dict[str, str]:
    """Instance id and zone come from the boot script (instance metadata); the host name is the
    container's id, which tells containers apart off AWS too."""
    return {
        "instance_id": settings.HASTACK_INSTANCE_ID,
        "availability_zone": settings.HASTACK_AZ,
        "hostname": socket.gethostname(),
        "version": __version__,
    }
