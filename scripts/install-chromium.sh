#!/usr/bin/env bash
# Chromium for the documentation's browser test (tests/docs/test_site.py): Debian's package,
# driven headless through Playwright. Does nothing when /usr/bin/chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-chromium: no apt-get here; install Chromium yourself (or set HOMEFIRE_CHROMIUM" \
        "to its path) for tests/docs/test_site.py, which is skipped without it" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
