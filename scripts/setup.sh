#!/bin/sh
# Installs what steerlab needs on Debian/Ubuntu and is missing: a Vulkan loader and Mesa's
# drivers (lavapipe renders on the CPU where there is no GPU), a C compiler,
# OpenBLAS (linked statically, for the network's convolutions), DejaVu Sans for the text of
# plots, Fashion-MNIST (the classifier's benchmark), the X11 libraries the window opens and Xvfb
# (a virtual display, for testing the window without a screen), Python 3 with venv and a
# Rust toolchain. Safe to run
# repeatedly; it does nothing when all is present.
set -eu

packages="libvulkan1 mesa-vulkan-drivers gcc libc6-dev pkg-config ca-certificates curl fonts-dejavu-core libopenblas-pthread-dev dataset-fashion-mnist libx11-6 libx11-xcb1 libxcursor1 libxi6 libxrandr2 libxkbcommon-x11-0 xvfb"
# Python 3 with venv, for the Python package (scripts/python.sh builds it into .venv).
python3 -c 'import venv, ensurepip' 2>/dev/null || packages="$packages python3 python3-venv"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup: run as root or install sudo to install:$missing" >&2; exit 1; }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y --no-install-recommends $missing || {
        $sudo apt-get update
        $sudo apt-get install -y --no-install-recommends $missing
    }
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    echo "setup: installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95.0
fi
