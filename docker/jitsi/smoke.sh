#!/usr/bin/env bash
# Smoke test of the images build.sh makes, per release: on a private network, with the env and mounts a
# docker-jitsi-meet compose file passes (stable-11146: read-only root, tmpfs /run and /tmp, volumes for
# prosody's data and web's /storage), it checks that
#
#   * prosody prints `[register-setup] All users registered and roster modified, service completed`;
#   * prosody without JICOFO_AUTH_PASSWORD exits 1 with `FATAL ERROR: Jicofo auth password must be set`;
#   * web serves the room page and a config.js built from PUBLIC_URL, and proxies /http-bind to prosody;
#   * jicofo and jvb (when their images exist) keep running for a few seconds.
#
# Everything it starts (containers, network, volumes; all named jh-smoke-*) is removed on exit.
# Usage: smoke.sh [stable-11031|stable-11146 ...]
set -euo pipefail

repo="jitsi-harness.local/jitsi"
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(stable-11031 stable-11146)
net="jh-smoke-$$"
started=()
volumes=()
failures=0

cleanup() {
  local c v
  for c in "${started[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  for v in "${volumes[@]}"; do docker volume rm "$v" >/dev/null 2>&1 || true; done
  docker network rm "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT

ok() { echo "  ok: $*"; }
bad() { echo "  FAILED: $*"; failures=$((failures + 1)); }

# Waits until container $1's log holds the fixed string $2 (at most $3 s); 0 when it does.
wait_log() {
  local end=$((SECONDS + $3))
  while [ $SECONDS -lt $end ]; do
    docker logs "$1" 2>&1 | grep -qF -- "$2" && return 0
    [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ] || break
    sleep 1
  done
  docker logs "$1" 2>&1 | grep -qF -- "$2"
}

run() { # $1 = name, $2 = release, $3 = service, rest = docker run arguments before the image
  local name="$1" release="$2" service="$3" args=(); shift 3
  if [ "$release" != stable-11031 ]; then
    # docker-compose.yml@stable-11146: read_only, tmpfs /run (mode 1750) and /tmp, storage volumes. The
    # tmpfs uid/gid: Docker Engines that mount it for root leave the container user (1000) unable to write.
    # shellcheck disable=SC2054 # the commas are tmpfs options
    args+=(--read-only --tmpfs /run:size=16M,mode=1750,exec,uid=1000,gid=1000 --tmpfs /tmp:size=16M,mode=1777,noexec)
    case "$service" in
      prosody) volumes+=("$name-data"); args+=(-v "$name-data:/var/lib/prosody") ;;
      web) volumes+=("$name-storage"); args+=(-v "$name-storage:/storage") ;;
    esac
  fi
  started+=("$name")
  docker run -d --name "$name" --network "$net" "${args[@]}" "$@" "$repo/$service:$release" >/dev/null
}

docker network create "$net" >/dev/null
for release in "${releases[@]}"; do
  echo "$release"
  for s in prosody web; do
    docker image inspect "$repo/$s:$release" >/dev/null 2>&1 \
      || { echo "no image $repo/$s:$release; build it with: sudo bash docker/jitsi/build.sh $release" >&2; exit 1; }
  done
  tag="${release#stable-}"
  prosody="jh-smoke-$$-$tag-prosody"
  common=(-e ENABLE_IPV6=0 -e JICOFO_AUTH_PASSWORD=smoke-focus -e JVB_AUTH_PASSWORD=smoke-jvb)

  t0=$SECONDS
  run "$prosody" "$release" prosody --network-alias "xmpp-$tag.meet.jitsi" "${common[@]}"
  if wait_log "$prosody" "[register-setup] All users registered and roster modified, service completed" 60; then
    ok "prosody ready in $((SECONDS - t0)) s"
  else
    bad "prosody never printed the register-setup ready line; its last lines:"; docker logs "$prosody" 2>&1 | tail -n 15
  fi

  fatal="jh-smoke-$$-$tag-fatal"
  run "$fatal" "$release" prosody -e ENABLE_IPV6=0 -e JVB_AUTH_PASSWORD=smoke-jvb
  code="$(docker wait "$fatal")"
  if [ "$code" = 1 ] && docker logs "$fatal" 2>&1 | grep -qx "FATAL ERROR: Jicofo auth password must be set"; then
    ok "prosody without JICOFO_AUTH_PASSWORD: exit 1, upstream's FATAL line"
  else
    bad "prosody without JICOFO_AUTH_PASSWORD: exit $code; its last lines:"; docker logs "$fatal" 2>&1 | tail -n 5
  fi

  web="jh-smoke-$$-$tag-web"
  if [ "$release" = stable-11031 ]; then https=443; else https=8443; fi
  run "$web" "$release" web -e ENABLE_IPV6=0 -e "PUBLIC_URL=https://smoke.example:$https" \
    -e "XMPP_BOSH_URL_BASE=http://xmpp-$tag.meet.jitsi:5280"
  if wait_log "$web" "nginx: HTTP on" 20; then
    ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$web")"
    page="$(curl -sk "https://$ip:$https/smokeroom" || true)"
    config="$(curl -sk "https://$ip:$https/config.js" || true)"
    bosh="$(curl -sk "https://$ip:$https/http-bind" || true)"
    if [[ "$page" == *"/libs/harness/app.js"* ]]; then ok "web serves the room page on $https"; else bad "web: no room page on $https"; fi
    if [[ "$config" == *"wss://smoke.example:$https/xmpp-websocket"* ]]; then ok "web config.js from PUBLIC_URL"; else bad "web: config.js is: $config"; fi
    if [[ "$bosh" == *"Prosody"* ]]; then ok "web proxies /http-bind to prosody"; else bad "web: /http-bind answered: ${bosh:0:200}"; fi
  else
    bad "web did not start; its last lines:"; docker logs "$web" 2>&1 | tail -n 10
  fi

  for s in jicofo jvb; do
    if ! docker image inspect "$repo/$s:$release" >/dev/null 2>&1; then
      echo "  skipped: no $repo/$s:$release"
      continue
    fi
    name="jh-smoke-$$-$tag-$s"
    run "$name" "$release" "$s" "${common[@]}" -e "XMPP_SERVER=xmpp-$tag.meet.jitsi"
    sleep 5
    if [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ]; then
      ok "$s running after 5 s"
    else
      bad "$s exited ($(docker inspect -f '{{.State.ExitCode}}' "$name")); its last lines:"; docker logs "$name" 2>&1 | tail -n 10
    fi
  done
done

if [ "$failures" -gt 0 ]; then
  echo "smoke: $failures check(s) failed"
  exit 1
fi
echo "smoke: all checks passed"
