"""The target checks the preflight role and the wrapper share: no AWS call, no network."""

from __future__ import annotations

import pytest
from ansible_collections.hastack.stack.plugins.module_utils.target import (
    TargetError,
    check_credentials,
    check_endpoint,
    check_region,
)


def test_a_known_region_passes_and_a_typo_names_its_neighbours() -> None:
    check_region("eu-west-1")
    with pytest.raises(TargetError) as caught:
        check_region("eu-west-9")
    assert caught.value.setting == "aws_region"
    assert "eu-west-1" in str(caught.value)
    with pytest.raises(TargetError):
        check_region(None)


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "https://example.test", "http://h/"])
def test_endpoint_urls_that_are_well_formed(url: str) -> None:
    check_endpoint(url, connect=False)


@pytest.mark.parametrize(
    "url", ["127.0.0.1:5000", "ftp://h", "http://", "http://h/path", "http://h:99999"]
)
def test_endpoint_urls_that_are_not(url: str) -> None:
    with pytest.raises(TargetError) as caught:
        check_endpoint(url, connect=False)
    assert caught.value.setting == "AWS_ENDPOINT_URL"


def test_half_a_key_pair_names_the_missing_half() -> None:
    with pytest.raises(TargetError) as caught:
        check_credentials({"AWS_ACCESS_KEY_ID": "AKIAABCDEFGHIJKLMNOP"})
    assert caught.value.setting == "AWS_SECRET_ACCESS_KEY"


def test_a_malformed_access_key_is_refused_and_a_good_pair_passes() -> None:
    with pytest.raises(TargetError) as caught:
        check_credentials({"AWS_ACCESS_KEY_ID": "nope", "AWS_SECRET_ACCESS_KEY": "x"})
    assert caught.value.setting == "AWS_ACCESS_KEY_ID"
    check_credentials({"AWS_ACCESS_KEY_ID": "AKIAABCDEFGHIJKLMNOP", "AWS_SECRET_ACCESS_KEY": "x"})
