#!/usr/bin/env bash
# Builds Jitsi-shaped local images without any container registry, for the releases below:
#
#   jitsi-harness.local/jitsi/prosody:RELEASE   Prosody 13 (bookworm-backports), configured from
#                                               docker-jitsi-meet's prosody env by our own entrypoint
#   jitsi-harness.local/jitsi/jicofo:RELEASE    `jitsi-harness-standin jicofo` on a minimal Debian
#   jitsi-harness.local/jitsi/jvb:RELEASE       `jitsi-harness-standin jvb` on a minimal Debian
#   jitsi-harness.local/jitsi/web:RELEASE       Debian nginx + a participant page shaped like jitsi-meet's store
#
# RELEASE is stable-11031 (root, config in /config, web on 80/443) or stable-11146 (uid 1000, read-only
# root, config in /run/<service>/config, web on 8000/8443). See README.md for what the images model.
#
# One `debootstrap --variant=minbase` rootfs (Debian bookworm; the mirror is read from this machine's apt
# configuration) is made once and kept in .build/; the prosody and web package sets are installed on copies
# of it, also kept. Each image is that rootfs plus this folder's `common/` and `SERVICE/` overlays, turned
# into an image with `docker import`. Each image carries the hash of its inputs in the label
# `jitsi-harness.inputs`; an image whose inputs did not change is not rebuilt.
#
# The jicofo and jvb images copy the `jitsi-harness-standin` binary: $JITSI_HARNESS_STANDIN, else the newer
# of target/release and target/debug (`cargo build --release --bin jitsi-harness-standin`).
#
# Usage: build.sh [--force] [stable-11031|stable-11146 ...] [prosody|jicofo|jvb|web ...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$here/.build"
tool="docker/jitsi/build.sh"
repo="jitsi-harness.local/jitsi"
suite="bookworm"
# shellcheck source=../lib.sh
. "$here/../lib.sh"

force=0
releases=()
services=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    stable-11031|stable-11146) releases+=("$arg") ;;
    prosody|jicofo|jvb|web) services+=("$arg") ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (expected --force, stable-11031, stable-11146, prosody, jicofo, jvb or web)" ;;
  esac
done
[ ${#releases[@]} -gt 0 ] || releases=(stable-11031 stable-11146)
[ ${#services[@]} -gt 0 ] || services=(prosody jicofo jvb web)

require_build_tools
mirror="$(read_mirror "$suite" | head -n1)"
[ -n "$mirror" ] || die "no Debian '$suite' mirror in /etc/apt/sources.list or /etc/apt/sources.list.d/; add one (e.g. a deb822 .sources entry with 'Suites: $suite') and rerun"
security="$(read_mirror "$suite-security" | head -n1)"
trap cleanup_mounts EXIT

# --- the standin binary (jicofo, jvb) ----------------------------------------------------------------
standin=""
# $JITSI_HARNESS_STANDIN when set; else the newer of the release and debug builds, so a stale release
# binary never shadows a fresh debug one (the binary is part of the inputs hash either way).
find_standin() {
  local release="$root/target/release/jitsi-harness-standin" debug="$root/target/debug/jitsi-harness-standin"
  if [ -n "${JITSI_HARNESS_STANDIN:-}" ]; then
    [ -x "$JITSI_HARNESS_STANDIN" ] || die "JITSI_HARNESS_STANDIN=$JITSI_HARNESS_STANDIN is not an executable file"
    standin="$JITSI_HARNESS_STANDIN"
  elif [ -x "$release" ] && { [ ! -x "$debug" ] || [ "$release" -nt "$debug" ]; }; then
    standin="$release"
  elif [ -x "$debug" ]; then
    standin="$debug"
  else
    return 1
  fi
}

# --- rootfs layers (kept in .build/, rebuilt when their package set or mirror changes) ---------------
# min: minbase + CA certificates + the `s6` user, uid/gid 1000, as docker-jitsi-meet's base adds it
# (docker-jitsi-meet base/Dockerfile@stable-11146: `adduser ... s6`, then `USER s6`).
min_packages="ca-certificates"
# prosody: Prosody 13 from bookworm-backports (both releases install prosody 13.*: docker-jitsi-meet
# prosody/Dockerfile@stable-11031 and @stable-11146); openssl makes the self-signed certificates.
prosody_packages="prosody lua-unbound openssl"
# web: nginx serves the page and proxies XMPP; libjs-strophe is the page's XMPP library.
web_packages="nginx libjs-strophe openssl"

layer_ready() { [ -f "$1/.complete" ] && [ "$(cat "$1/.complete")" = "$2" ]; }

rootfs_min() {
  local dir="$work/rootfs-min" stamp="$mirror $security $min_packages"
  layer_ready "$dir" "$stamp" && return
  rm -rf "$dir"; mkdir -p "$work"
  local t0=$SECONDS
  echo "  debootstrap --variant=minbase $suite (mirror from apt config) ..."
  debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $work/debootstrap.log (tail below)
$(tail -n 15 "$work/debootstrap.log")"
  {
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    echo "deb $mirror $suite-backports main"
    [ -n "$security" ] && echo "deb $security $suite-security main"
  } >"$dir/etc/apt/sources.list"
  # No service may start inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"; chmod +x "$dir/usr/sbin/policy-rc.d"
  chroot_install "$dir" min $min_packages
  chroot "$dir" groupadd --gid 1000 s6
  chroot "$dir" useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash s6
  echo "$stamp" >"$dir/.complete"
  echo "  minimal rootfs ready in $((SECONDS - t0)) s"
}

rootfs_layer() { # $1 = name (prosody | web), $2 = packages, rest = extra apt-get arguments
  local name="$1" packages="$2"; shift 2
  local dir="$work/rootfs-$name" stamp="$mirror $security $min_packages + $packages $*"
  layer_ready "$dir" "$stamp" && return
  rootfs_min
  local t0=$SECONDS
  rm -rf "$dir"; cp -a "$work/rootfs-min" "$dir"; rm -f "$dir/.complete"
  echo "  installing $packages ..."
  # shellcheck disable=SC2086
  chroot_install "$dir" "$name" "$@" $packages
  echo "$stamp" >"$dir/.complete"
  echo "  $name rootfs ready in $((SECONDS - t0)) s"
}

rootfs_prosody() {
  rootfs_layer prosody "$prosody_packages" -t "$suite-backports"
  local got
  got="$(chroot "$work/rootfs-prosody" dpkg-query -W -f '${Version}' prosody)"
  case "$got" in 13.*) ;; *) die "expected prosody 13.x from $suite-backports, found '$got'" ;; esac
}

# --- per image --------------------------------------------------------------------------------------
layer_of() { case "$1" in prosody) echo prosody ;; web) echo web ;; *) echo min ;; esac; }
packages_of() { case "$1" in prosody) echo "$prosody_packages" ;; web) echo "$web_packages" ;; *) echo "$min_packages" ;; esac; }

inputs_hash() { # $1 = release, $2 = service
  {
    echo "suite=$suite mirror=$mirror security=$security release=$1 service=$2 packages=$(packages_of "$2")"
    cat "$here/build.sh" "$here/../lib.sh"
    hash_tree "$here/common"
    hash_tree "$here/$2"
    if [ "$2" = prosody ]; then
      cat "$root/docker/fixture/rootfs/usr/local/lib/jitsi-harness/prosody-plugins/mod_auth_fixture_token.lua" \
          "$root/docker/fixture/rootfs/usr/local/lib/jitsi-harness/prosody-plugins/mod_fixture_token_verification.lua" \
          "$root/docker/fixture/rootfs/usr/local/lib/jitsi-harness/prosody-plugins/mod_fixture_token_affiliation.lua"
    fi
    if [ "$2" = jicofo ] || [ "$2" = jvb ]; then sha256sum <"$standin"; fi
  } | sha256sum | cut -c1-16
}

# The image settings docker-jitsi-meet's Dockerfiles declare, per release and service
# (docker-jitsi-meet {prosody,jicofo,jvb,web}/Dockerfile@stable-11031 and @stable-11146).
image_changes() { # $1 = release, $2 = service; prints one --change argument per line
  local release="$1" service="$2"
  echo 'ENTRYPOINT ["/usr/local/bin/jitsi-harness-entrypoint"]'
  case "$service" in
    prosody) echo 'EXPOSE 5222 5280'; echo 'VOLUME ["/config", "/prosody-plugins-custom"]' ;;
    jicofo|jvb) echo 'VOLUME ["/config"]' ;;
    web)
      if [ "$release" = stable-11031 ]; then echo 'EXPOSE 80 443'; else echo 'EXPOSE 8000 8443'; fi
      echo 'VOLUME ["/config", "/usr/share/jitsi-meet/transcripts"]' ;;
  esac
  [ "$release" = stable-11146 ] && echo 'USER s6'
  return 0
}

build_one() { # $1 = release, $2 = service
  local release="$1" service="$2" tag="$repo/$2:$1" hash t0=$SECONDS
  if [ "$service" = jicofo ] || [ "$service" = jvb ]; then
    find_standin || die "no jitsi-harness-standin binary for $tag: build it first with
  cargo build --release --bin jitsi-harness-standin
(looked in \$JITSI_HARNESS_STANDIN, $root/target/release and $root/target/debug)"
  fi
  hash="$(inputs_hash "$release" "$service")"
  if [ "$force" = 0 ] && [ "$(image_hash "$tag")" = "$hash" ]; then
    echo "$tag is up to date (inputs $hash), skipped"
    return
  fi
  echo "building $tag (inputs $hash) ..."
  local layer; layer="$(layer_of "$service")"
  case "$layer" in
    prosody) rootfs_prosody ;;
    web) rootfs_layer web "$web_packages" ;;
    *) rootfs_min ;;
  esac
  # Hard links: the copy costs no space; every change below replaces or adds files, never edits one.
  local dir="$work/stage-$service-$release"
  rm -rf "$dir"; cp -al "$work/rootfs-$layer" "$dir"; rm -f "$dir/.complete"
  cp -a --remove-destination "$here/common/." "$dir/"
  cp -a --remove-destination "$here/$service/." "$dir/"
  mkdir -p "$dir/usr/local/share/jitsi-harness"
  echo "$release" >"$dir/usr/local/share/jitsi-harness/release"
  chmod +x "$dir/usr/local/bin/"*
  local rootless=0; [ "$release" = stable-11146 ] && rootless=1
  case "$service" in
    prosody)
      local plugins="$dir/usr/local/lib/jitsi-harness/prosody-plugins"
      cp --remove-destination "$root/docker/fixture/rootfs/usr/local/lib/jitsi-harness/prosody-plugins/mod_auth_fixture_token.lua" \
         "$root/docker/fixture/rootfs/usr/local/lib/jitsi-harness/prosody-plugins/mod_fixture_token_verification.lua" "$plugins/"
      # XMPP_MUC_MODULES=token_affiliation loads the fixture's model of jitsi-meet's module (stable-10978+).
      cp --remove-destination "$root/docker/fixture/rootfs/usr/local/lib/jitsi-harness/prosody-plugins/mod_fixture_token_affiliation.lua" \
         "$plugins/mod_token_affiliation.lua"
      rm -rf "$dir/etc/prosody"
      mkdir -p "$dir/config" "$dir/prosody-plugins-custom" "$dir/var/lib/prosody"
      # stable-11146: the data folder belongs to s6 (docker-jitsi-meet prosody/Dockerfile@stable-11146).
      [ "$rootless" = 1 ] && chown 1000:1000 "$dir/var/lib/prosody"
      ;;
    jicofo|jvb)
      mkdir -p "$dir/config"
      rm -f "$dir/usr/local/bin/jitsi-harness-standin"
      cp "$standin" "$dir/usr/local/bin/jitsi-harness-standin"
      ;;
    web)
      mkdir -p "$dir/config" "$dir/usr/share/jitsi-meet/transcripts"
      rm -rf "$dir/etc/nginx/sites-enabled" "$dir/var/www/html"
      local www="$dir/usr/share/jitsi-meet"
      [ -f "$dir/usr/share/javascript/strophe/strophe.js" ] || die "libjs-strophe's strophe.js is missing from the web rootfs"
      mkdir -p "$www/libs"; ln -sfn /usr/share/javascript/strophe "$www/libs/strophe"
      if [ "$rootless" = 1 ]; then
        # As docker-jitsi-meet web/Dockerfile@stable-11146: nginx's state lives under /run/web, keys in
        # /storage (owned by s6).
        rm -rf "$dir/var/lib/nginx"; ln -s /run/web/tmp "$dir/var/lib/nginx"
        mkdir -p "$dir/storage"; chown 1000:1000 "$dir/storage"
      fi
      ;;
  esac
  trim_rootfs "$dir"
  local args=() line
  while IFS= read -r line; do args+=(--change "$line"); done < <(image_changes "$release" "$service")
  tar -C "$dir" -c . | docker import "${args[@]}" \
    --change "LABEL jitsi-harness.inputs=$hash" \
    --change "LABEL jitsi-harness.kind=jitsi-$service" \
    --change "LABEL jitsi-harness.release=$release" \
    - "$tag" >/dev/null || die "docker import of $tag failed"
  rm -rf "$dir"
  echo "built $tag in $((SECONDS - t0)) s"
}

total=$SECONDS
for r in "${releases[@]}"; do
  for s in "${services[@]}"; do build_one "$r" "$s"; done
done
echo "jitsi images ready in $((SECONDS - total)) s"
