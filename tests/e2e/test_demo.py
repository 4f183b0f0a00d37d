"""``make demo`` against a running stack: every view as expected, the object view and contact moments shown."""

from __future__ import annotations

import asyncio

import demo
import pytest
from iko_stack import Stack

pytestmark = pytest.mark.e2e


async def test_the_demo_runs_clean_and_shows_the_object_view_and_contact_moments(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--gateway", stack.gateway_url, "--brp-sandbox", stack.sandbox_urls["brp"]]
    code = await asyncio.to_thread(demo.main, argv)
    out = capsys.readouterr().out
    assert code == 0, out[-4000:]
    assert "every view is as expected" in out
    # The person's contact moments and BAG address, the company's contact moments.
    assert out.count("   contactmomenten (") == 2
    assert "   adres (BAG): Boterdiep 31, 3077AW Rotterdam; woonfunctie" in out
    assert "bouwjaar 1880" in out
    # The object view: found by postcode, then its object, residents, zaken and registrations.
    assert "0599200000219678  Boterdiep 31, 3077AW Rotterdam" in out
    assert "   object 0599010000208579: " in out
    assert "Suzanne Moulin" in out.split("   bewoners (")[1].splitlines()[0]
    assert "   registraties (2):" in out
