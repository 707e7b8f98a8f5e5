#!/usr/bin/env bash
# System packages navstack needs, from Debian: the Sweet Home 3D furniture models (the embedded houses'
# furniture) and the shared libraries Open3D's PyPI wheel links against. Idempotent and quick when done.
set -euo pipefail
need=()
[ -d /usr/share/sweethome3d/furniture ] || need+=(sweethome3d-furniture)
ldconfig -p | grep -q "libusb-1.0.so.0" || need+=(libusb-1.0-0)
ldconfig -p | grep -q "libgomp.so.1" || need+=(libgomp1)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "navstack setup: installing Debian packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
