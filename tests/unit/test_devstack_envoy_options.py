"""The local Envoy's command-line options read from the environment."""

from __future__ import annotations

import pytest

from inlet_devstack import envoy


def test_envoy_keeps_its_own_worker_count_unless_one_is_given() -> None:
    assert envoy.concurrency({}) == []
    assert envoy.concurrency({"INLET_ENVOY_CONCURRENCY": ""}) == []


def test_a_given_worker_count_is_passed_to_envoy() -> None:
    assert envoy.concurrency({"INLET_ENVOY_CONCURRENCY": "1"}) == ["--concurrency", "1"]


@pytest.mark.parametrize("raw", ["one", "-1", "1025"])
def test_a_bad_worker_count_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(envoy.EnvoyError, match="INLET_ENVOY_CONCURRENCY"):
        envoy.concurrency({"INLET_ENVOY_CONCURRENCY": raw})
