"""Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser of its own).

When ``/usr/bin/chromium`` is missing and the tests run as root (CI does), ``ensure_chromium``
installs Debian's package with ``apt-get``; otherwise the test is skipped with the reason. The
fixtures ``chromium`` and ``browser`` (tests/e2e/conftest.py) are built on these."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_TIMEOUT = 900
PHONE = {"width": 390, "height": 844}
"""A phone-sized viewport (CSS pixels)."""


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with ``apt-get`` when missing and the tests run as root."""
    if not CHROMIUM.exists():
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip(f"{CHROMIUM} is missing and the tests cannot install it (not root, or no apt-get): apt-get install chromium")
        done = _apt("install", "-y", "-q", "chromium")
        if done.returncode != 0:  # no package lists yet, or old ones
            _apt("update", "-q")
            done = _apt("install", "-y", "-q", "chromium")
        if done.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"apt-get install chromium failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return CHROMIUM
