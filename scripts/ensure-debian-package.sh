#!/bin/sh
# sh scripts/ensure-debian-package.sh PACKAGE COMMAND WHAT
# Make sure Debian's PACKAGE (which provides COMMAND) is installed, with apt-get when it is not;
# WHAT names what needs it (e.g. "the browser test"), for the messages.
# Never fails the build: without apt (or root), WHAT skips with a clear reason.
set -u
PACKAGE=$1
COMMAND=$2
WHAT=$3
NAME="ensure $PACKAGE"

if command -v "$COMMAND" >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$NAME: apt-get not found; $COMMAND missing, $WHAT will skip" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "$NAME: not root and no passwordless sudo; $WHAT will skip" >&2
        exit 0
    fi
fi
echo "$NAME: installing Debian's $PACKAGE with apt-get" >&2
if $SUDO apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$PACKAGE" \
        >/dev/null; then
    echo "$NAME: installed $(command -v "$COMMAND")" >&2
else
    echo "$NAME: apt-get could not install $PACKAGE; $WHAT will skip" >&2
fi
exit 0
