#!/usr/bin/env bash
# Makes a GitHub-hosted Ubuntu runner close enough to the Debian 12 machine `./just test` expects (README
# "Quick start"), for .github/workflows/ci.yml. Run as root. What differs, and what this does about it:
#  - the image builds (docker/lib.sh) debootstrap Debian bookworm and read the mirror from apt's
#    configuration, which on Ubuntu lists none: install debootstrap and Debian's archive keyring, and add
#    debootstrap's own default Debian mirror as a *disabled* deb822 entry (the builds read it, apt ignores it);
#  - `chromium` and `chromedriver` are Debian packages (on Ubuntu, snaps): link the runner image's Chrome and
#    its matching chromedriver ($CHROMEWEBDRIVER) to the names .ci/setup and the harness look for.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "prepare-runner: run as root: sudo bash $0" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends debootstrap debian-archive-keyring python3-venv >/dev/null

mirror=$(sed -n 's/^DEF_MIRROR="\(.*\)"$/\1/p' /usr/sbin/debootstrap | head -n1)
case "$mirror" in
  */debian) ;;
  *) echo "prepare-runner: debootstrap's default mirror '$mirror' is not a Debian archive; add a bookworm entry to /etc/apt/sources.list.d/ by hand" >&2; exit 1 ;;
esac
cat >/etc/apt/sources.list.d/jitsi-harness-bookworm.sources <<SOURCES
Enabled: no
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Enabled: no
Types: deb
URIs: $mirror-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

# The harness's default browser is /usr/bin/chromium; the driver must match the browser, so both come from
# the runner image's Chrome (CHROMEWEBDRIVER is its chromedriver's folder; keep it through sudo).
chrome=$(command -v google-chrome || true)
driver="${CHROMEWEBDRIVER:-}/chromedriver"
if [ ! -x /usr/bin/chromium ] && [ -n "$chrome" ]; then
  ln -sf "$chrome" /usr/bin/chromium
fi
if [ -x "$driver" ]; then
  ln -sf "$driver" /usr/local/bin/chromedriver
fi
echo "prepare-runner: Debian mirror $mirror (disabled apt entry), chromium -> $(readlink -f /usr/bin/chromium 2>/dev/null || echo missing), chromedriver -> $(readlink -f "$(command -v chromedriver || echo /nonexistent)" 2>/dev/null || echo missing)"
