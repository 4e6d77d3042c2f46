#!/usr/bin/env bash
# Installs nvcc (CUDA 11.8) from Debian bookworm's non-free component, without
# touching the machine's apt configuration: the Debian mirror the machine
# already uses, with non-free added, in a private sources list and cache.
# About 1.6 GB and a few minutes. nvcc 11.8 targets sm_70 … sm_90 and
# compute_90 PTX, which is what kernels/ is built for.
set -euo pipefail
if command -v nvcc >/dev/null 2>&1; then
  echo "nvcc already installed: $(command -v nvcc)"; exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
mkdir -p "$D/lists/partial"
# The mirror serving bookworm main on this machine (deb822 or one-line form).
MIRROR=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
[ -n "$MIRROR" ] || MIRROR=$(grep -hE '^deb .* bookworm ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
[ -n "$MIRROR" ] || { echo "no Debian bookworm mirror found in the apt sources" >&2; exit 1; }
printf 'Types: deb\nURIs: %s\nSuites: bookworm\nComponents: main contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$MIRROR" > "$D/nf.sources"
O=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$D" -o "Dir::State::Lists=$D/lists")
$SUDO apt-get "${O[@]}" update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${O[@]}" install -y --no-install-recommends nvidia-cuda-toolkit
nvcc --version
