"""Discovery on the web page in headless Chromium (Debian's ``chromium`` via Playwright, like test_browser.py).

Against a real server process: enroll alice through the page, turn on keeping unknowns, identify three photos
of a stranger (unknown each time), find proposals, accept the stranger's proposal as "carol" with the page's
button, then identify one of the proposal's images: the page now says "Known: carol".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from service_helpers import READ_KEY, WRITE_KEY, encode, pattern_image
from test_browser import page  # noqa: F401  (the Chromium page fixture)

pytestmark = pytest.mark.server


def _identify(page, image: Path, decision: str) -> str:  # noqa: F811
    page.evaluate("document.querySelector('#verdict').removeAttribute('data-decision')")
    page.set_input_files("#probe-file", str(image))
    page.wait_for_selector(f"#verdict[data-decision='{decision}']", timeout=30_000)
    return page.inner_text("#verdict")


def test_accept_a_proposal_on_the_page_then_identify_it(page, image_server, tmp_path: Path):  # noqa: F811
    alice = tmp_path / "alice.png"
    alice.write_bytes(encode(pattern_image(11, size=160)))
    strangers = []
    for i, noise in enumerate((6, 10, 14)):
        path = tmp_path / f"stranger{i}.png"
        path.write_bytes(encode(pattern_image(77, size=160, noise=noise)))
        strangers.append(path)

    page.goto(image_server.url + "/")
    page.wait_for_selector("#status.up", timeout=30_000)
    page.fill("#api-key", READ_KEY)
    page.dispatch_event("#api-key", "change")
    page.fill("#enroll-identity", "alice")
    page.set_input_files("#enroll-files", str(alice))
    page.fill("#write-key", WRITE_KEY)
    page.click("#enroll-submit")
    page.wait_for_selector("#enroll-result:has-text('as \"alice\"')", timeout=30_000)
    page.fill("#write-key", WRITE_KEY)  # the enroll form's reset cleared it; discovery uses it too

    page.click("#discover-enable")
    page.wait_for_selector("#discover-status:has-text('keeping unknown probes')", timeout=30_000)
    for path in strangers:
        assert _identify(page, path, "unknown").startswith("Unknown")
    page.click("#discover-refresh")
    page.wait_for_selector("#discover-status:has-text('3 kept')", timeout=30_000)

    page.click("#discover-run")
    page.wait_for_selector("#proposals .proposal", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#proposals .proposal img.thumb').length >= 3", timeout=30_000)
    proposal = page.locator("#proposals .proposal").first
    assert "3 items" in proposal.locator(".meta").inner_text()
    proposal.locator(".proposal-name").fill("carol")
    proposal.locator("button.accept").click()
    page.wait_for_selector("#discover-result:has-text('accepted as \"carol\" (3 items)')", timeout=30_000)
    page.wait_for_selector("#identities li:has-text('carol (3)')", timeout=30_000)
    page.screenshot(path=str(tmp_path / "lookalike-discover.png"), full_page=True)

    assert _identify(page, strangers[1], "known").startswith("Known: carol")
    assert page.is_hidden("#discover-error")
