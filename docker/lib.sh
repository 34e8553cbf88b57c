# Shell functions shared by the image builds under docker/ (sourced, not run).
#
# Each build makes a `debootstrap --variant=minbase` rootfs from Debian's archive (the mirror read from this
# machine's apt configuration), lays its own files over it and turns it into an image with `docker import`:
# no container registry is involved. Callers set `work` (their scratch folder) and `tool` (their name, for
# messages) before sourcing.

die() { echo "${tool:-build}: $*" >&2; exit 1; }

# Root, a Docker engine that answers, and debootstrap (installed with apt-get when missing).
require_build_tools() {
  [ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot need it); try: sudo $0"
  command -v docker >/dev/null || die "no 'docker' command; install Docker Engine (Debian: apt-get install docker.io)"
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer ('docker info' fails); start it (systemctl start docker) and check you may use its socket"
  if ! command -v debootstrap >/dev/null; then
    echo "installing debootstrap (apt-get) ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
      || die "could not install debootstrap with apt-get"
  fi
}

# The first mirror this machine's apt configuration (deb822 or one-line) lists for a suite.
read_mirror() { # $1 = suite to look for (bookworm | bookworm-security)
  local want="$1" f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v want="$want" '
      BEGIN { RS=""; FS="\n" }
      {
        uris=""; suites=""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", $i); uris=$i }
          if ($i ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", $i); suites=" " $i " " }
        }
        if (uris != "" && index(suites, " " want " ")) { split(uris, u, /[ \t]+/); print u[1]; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v want="$want" '$1 == "deb" { o = 2; if ($2 ~ /^\[/) { while ($o !~ /\]$/) o++; o++ } if ($(o+1) == want) { print $o; exit } }' "$f"
  done
}

# The inputs hash an image was built from (label `jitsi-harness.inputs`), empty when there is no image.
image_hash() { docker image inspect -f '{{ index .Config.Labels "jitsi-harness.inputs" }}' "$1" 2>/dev/null || true; }

# Every file under a folder, names and contents, in a stable order (for inputs hashes).
hash_tree() { # $1 = folder
  (cd "$1" && find . -type f | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done)
}

# Unmounts the /proc of every rootfs under $work (an EXIT trap: a failed chroot step leaves it mounted).
cleanup_mounts() {
  local d
  for d in "$work"/rootfs-*; do
    [ -d "$d/proc" ] && mountpoint -q "$d/proc" && umount "$d/proc" || true
  done
}

# apt-get install in a rootfs's chroot, /proc mounted for the duration. Output goes to $work/apt-NAME.log.
chroot_install() { # $1 = rootfs, $2 = log name, rest = apt-get install arguments
  local dir="$1" log="$work/apt-$2.log"; shift 2
  mount -t proc proc "$dir/proc"
  chroot "$dir" apt-get update -qq >"$log" 2>&1 || { umount "$dir/proc"; die "apt-get update in $dir failed; see $log"; }
  DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1 \
    || { umount "$dir/proc"; die "apt-get install $* in $dir failed; see $log (tail below)
$(tail -n 15 "$log")"; }
  umount "$dir/proc"
}

# Removes what an image does not need from a rootfs.
trim_rootfs() { # $1 = rootfs
  rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*.bin "$1/var/cache/apt/archives/"*.deb \
         "$1/usr/share/doc" "$1/usr/share/man" "$1/usr/share/locale" "$1/usr/sbin/policy-rc.d"
}
