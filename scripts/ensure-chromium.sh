#!/bin/sh
# Make sure Debian's chromium is at /usr/bin/chromium for tests/test_browser.py.
# Never fails the build: without apt (or root), the browser test skips with a clear reason.
set -u
CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: apt-get not found; $CHROMIUM missing, the browser test will skip" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-chromium: not root and no passwordless sudo; the browser test will skip" >&2
        exit 0
    fi
fi
echo "ensure-chromium: installing Debian's chromium with apt-get" >&2
if $SUDO apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium \
        >/dev/null; then
    echo "ensure-chromium: installed $($CHROMIUM --version 2>/dev/null)" >&2
else
    echo "ensure-chromium: apt-get could not install chromium; the browser test will skip" >&2
fi
exit 0
