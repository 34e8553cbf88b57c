# jitsi-harness local images: shell functions every entrypoint sources (bash).
#
# docker-jitsi-meet renders its config with jitsi/tpl, whose semantics these reproduce (tpl func.go and
# main.go@v1.5.0): a missing variable renders empty, `default` replaces an EMPTY value (so `VAR=` acts as
# unset), and `toBool` strips every `"` and `'` and then parses like Go's strconv.ParseBool, except that a
# non-empty string it cannot parse counts as true and an empty one as false.

# The docker-jitsi-meet release this image presents (written at build time).
RELEASE="$(cat /usr/local/share/jitsi-harness/release)"
# stable-11146 and later run as uid 1000 on a read-only root and render into /run/<service>/config
# (docker-jitsi-meet commit 086d047f "Rootless containers", base/Dockerfile@stable-11146).
if [ "$RELEASE" = stable-11031 ]; then ROOTLESS=0; else ROOTLESS=1; fi

# $1 with tpl's `default`: the value of variable $1, or $2 when it is unset or empty.
env_default() { local v="${!1:-}"; if [ -n "$v" ]; then printf '%s' "$v"; else printf '%s' "$2"; fi; }

# tpl's toBool on a value: exit status 0 for true.
to_bool() {
  local v="${1//\"/}"
  v="${v//\'/}"
  case "$v" in
    "") return 1 ;;
    1|t|T|TRUE|true|True) return 0 ;;
    0|f|F|FALSE|false|False) return 1 ;;
    *) return 0 ;;
  esac
}

# `true` or `false` for variable $1 read as `.Env.$1 | default "$2" | toBool`.
env_bool() { if to_bool "$(env_default "$1" "$2")"; then echo true; else echo false; fi; }

# A Lua string literal.
lua_str() { local s="${1//\\/\\\\}"; s="${s//\"/\\\"}"; printf '"%s"' "$s"; }

# A Lua list of strings from a comma-separated value (empty items dropped, as tpl's `compact`).
lua_list() {
  local out="{" item
  local -a items
  IFS=, read -r -a items <<<"$1"
  for item in "${items[@]}"; do
    [ -n "$item" ] && out="$out $(lua_str "$item");"
  done
  printf '%s }' "$out"
}

# Upstream's fatal start error: the message on stdout, exit 1 (the container stops).
fatal() { echo "FATAL ERROR: $*"; exit 1; }

# Proves a folder is writable by creating and removing a probe file, as docker-jitsi-meet's
# `check-writable` does before a rootless service starts (base/rootfs/usr/bin/check-writable@stable-11146).
check_writable() { # $1 = folder, $2 = where the host side usually lives
  local dir="$1" hint="$2" probe
  if [ ! -d "$dir" ]; then
    echo "FATAL ERROR: required directory '$dir' is missing."
    echo "  Mount a writable volume there (usually $hint)."
    echo "  The container runs as uid $(id -u); the folder must be writable by it."
    exit 1
  fi
  probe="$dir/.write-probe.$$"
  if ! ( : >"$probe" ) 2>/dev/null; then
    echo "FATAL ERROR: directory '$dir' is not writable by the container user (uid $(id -u))."
    echo "  Mount a writable volume there (usually $hint),"
    echo "  owned by uid $(id -u) or otherwise writable by it."
    exit 1
  fi
  rm -f "$probe"
}

# Makes /run/<service>/config (rootless) from a copy of /config, so that operator files in /config are
# honoured while /config itself may be read-only; prints the folder config is rendered into.
config_dir() { # $1 = service
  if [ "$ROOTLESS" = 1 ]; then
    check_writable /run "a tmpfs: tmpfs /run, with uid=$(id -u) on Docker Engines that mount it for root" >&2 || exit 1
    mkdir -p "/run/$1/config"
    if [ -d /config ] && [ -n "$(ls -A /config 2>/dev/null)" ]; then cp -a /config/. "/run/$1/config/"; fi
    echo "/run/$1/config"
  else
    mkdir -p /config
    echo /config
  fi
}
