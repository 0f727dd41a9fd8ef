"""Fixtures for the queue tests: whole sites of real processes (see :mod:`printfleet.testing.site`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from printfleet.services import ManagedProcess
from printfleet.testing.site import Site, fleet_yaml, make_site


@pytest.fixture()
def site_factory(tmp_path: Path, redis_url: str, mqtt_broker: ManagedProcess):
    """Make sites on the session's Redis (flushed) and broker; every part is stopped at the end."""
    made: list[Site] = []

    def make(
        printers: dict[str, str], *, extra: str = "", redis_url: str = redis_url, **kwargs: object
    ) -> Site:
        """A site with simulated printers ``{id: "mk3s" | "mini"}``; ``extra`` goes in the fleet file."""
        text = fleet_yaml(printers, extra=extra)
        site = make_site(tmp_path / f"site{len(made)}", redis_url, mqtt_broker.url, text, **kwargs)  # type: ignore[arg-type]
        made.append(site)
        return site

    yield make
    for site in made:
        site.stop()
