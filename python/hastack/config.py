"""The wrapper's checks of the target before a run starts, from the collection's own code.

The checks (region, ``AWS_ENDPOINT_URL``, the credential chain) live in the collection
(``plugins/module_utils/target.py``), which the preflight role runs in its first module; the
wrapper loads the same file, so both refuse the same settings with the same message.
"""

from __future__ import annotations

from hastack import collection
from hastack.errors import HastackError, SettingError


class TargetUnreachable(HastackError):
    """AWS_ENDPOINT_URL names an endpoint nothing answers on: the run would only time out."""


def check_endpoint(url: str, *, connect: bool = True) -> None:
    """``AWS_ENDPOINT_URL`` must be http(s)://host[:port] and, if ``connect``, accept TCP."""
    target = collection.module_util("target")
    try:
        target.check_endpoint(url, connect=connect)
    except target.TargetError as exc:
        raise SettingError(exc.setting, str(exc)) from None
    except target.TargetUnreachable as exc:
        raise TargetUnreachable(str(exc)) from None
