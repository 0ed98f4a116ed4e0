#!/bin/sh
# Make sure Debian's espeak-ng is installed for the audio demo (`hfft demo --task
# audio-classification` speaks its words with it) and tests/test_demo_audio.py.
# Never fails the build: without apt (or root), the audio demo test skips with a clear reason.
set -u

if command -v espeak-ng >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-espeak-ng: apt-get not found; espeak-ng missing, the audio demo test will skip" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-espeak-ng: not root and no passwordless sudo; the audio demo test will skip" >&2
        exit 0
    fi
fi
echo "ensure-espeak-ng: installing Debian's espeak-ng with apt-get" >&2
if $SUDO apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends espeak-ng \
        >/dev/null; then
    echo "ensure-espeak-ng: installed $(espeak-ng --version 2>/dev/null)" >&2
else
    echo "ensure-espeak-ng: apt-get could not install espeak-ng; the audio demo test will skip" >&2
fi
exit 0
