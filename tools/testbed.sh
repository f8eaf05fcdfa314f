#!/usr/bin/env bash
# Container test bed: systemd-capable base images built with debootstrap and imported into podman, the
# containers.conf this host needs, and the artifacts the role tests install from (Ollama release archive).
#
# Usage: tools/testbed.sh [images|conf|ollama-release|all]   (default: all)
# Env:   TESTBED_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#        TESTBED_SECURITY_MIRROR  Debian security mirror (default http://deb.debian.org/debian-security)
#        TESTBED_UBUNTU=1  also build Ubuntu 24.04 when its archive answers
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
export CONTAINERS_CONF="$CACHE/containers.conf"
MIRROR="${TESTBED_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${TESTBED_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
UBUNTU_MIRROR="${TESTBED_UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}"
IMAGE_PREFIX="localhost/ollama-platform"
PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,openssh-server,iproute2,procps,ca-certificates"
MASKED_UNITS="getty@tty1.service console-getty.service systemd-udevd.service systemd-remount-fs.service systemd-firstboot.service"

die() { echo "testbed: $*" >&2; exit 1; }
log() { echo "testbed: $*"; }

write_containers_conf() {
  local nofile nproc pid_max
  nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
  [ "$nofile" = unlimited ] && nofile=1048576
  [ "$nproc" = unlimited ] && nproc=1048576
  # Measured: runc may not set RLIMIT_NPROC above kernel.pid_max here, even as root.
  pid_max="$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo "$nproc")"
  [ "$nproc" -gt "$pid_max" ] && nproc="$pid_max"
  # Root cannot raise RLIMIT_NOFILE past the host's hard limit; crun 1.8 refuses hybrid cgroups, runc does not.
  mkdir -p "$CACHE"
  cat >"$CONTAINERS_CONF.tmp" <<CONF
# Written by tools/testbed.sh from this host's hard limits (ulimit -Hn, ulimit -Hu capped at kernel.pid_max).
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
CONF
  mv "$CONTAINERS_CONF.tmp" "$CONTAINERS_CONF"
}

# inputs_hash SUITE MIRROR: what the image depends on; an image labelled with the same hash is reused.
inputs_hash() {
  printf '%s\n' "$1" "$2" "$SECURITY_MIRROR" "$PACKAGES" "$MASKED_UNITS" "$(sed -n '/^build_image()/,/^}/p' "${BASH_SOURCE[0]}")" \
    | sha256sum | cut -c1-16
}

image_label() {
  podman image inspect --format '{{ index .Labels "ollama-platform.inputs" }}' "$1" 2>/dev/null || true
}

# build_image NAME SUITE MIRROR [debootstrap script]
build_image() {
  local name="$1" suite="$2" mirror="$3" image="$IMAGE_PREFIX/$1:latest" hash rootfs
  local script=("${@:4}")
  hash="$(inputs_hash "$suite" "$mirror")"
  if [ "$(image_label "$image")" = "$hash" ]; then
    log "$image is up to date (inputs $hash)"
    return 0
  fi
  log "building $image from $suite at $mirror (inputs $hash)"
  rootfs="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$rootfs" "$mirror" "${script[@]}" >"$CACHE/debootstrap-$name.log" 2>&1 \
    || { rm -rf "$rootfs"; die "debootstrap of $suite failed (log: .cache/debootstrap-$name.log): check that $mirror answers, or set TESTBED_MIRROR"; }
  # Debian's official images list the updates and security suites; debootstrap writes the release alone.
  if [ "$suite" = bookworm ]; then
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
      "$mirror" "$suite" "$mirror" "$suite" "$SECURITY_MIRROR" "$suite" >"$rootfs/etc/apt/sources.list"
  fi
  : >"$rootfs/etc/machine-id"
  rm -f "$rootfs/var/lib/dbus/machine-id"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  for unit in $MASKED_UNITS; do ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"; done
  # sshd host keys are generated at first boot, so every container gets its own.
  rm -f "$rootfs"/etc/ssh/ssh_host_*
  mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
  printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' >"$rootfs/etc/systemd/system/ssh.service.d/hostkeys.conf"
  echo 'ollama-platform-testbed' >"$rootfs/etc/hostname"
  tar -C "$rootfs" --numeric-owner -c . \
    | podman import --quiet --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
        --change "LABEL ollama-platform.inputs=$hash" - "$image" >/dev/null \
    || { rm -rf "$rootfs"; die "podman import of $image failed: run 'podman info' to check the podman installation"; }
  rm -rf "$rootfs"
  log "built $image"
}

build_images() {
  command -v debootstrap >/dev/null || die "debootstrap not found: run 'make setup' (or apt-get install debootstrap)"
  command -v podman >/dev/null || die "podman not found: run 'make setup' (or apt-get install podman runc)"
  [ "$(id -u)" -eq 0 ] || die "building images needs root (debootstrap and rootful podman): run as root"
  build_image debian12 bookworm "$MIRROR"
  build_cloud_image
  if [ "${TESTBED_UBUNTU:-0}" = 1 ]; then
    if curl -fsS -m 10 -o /dev/null "$UBUNTU_MIRROR/dists/noble/Release" \
        && [ -e /usr/share/keyrings/ubuntu-archive-keyring.gpg ]; then
      build_image ubuntu2404 noble "$UBUNTU_MIRROR" /usr/share/debootstrap/scripts/gutsy
    else
      log "Ubuntu 24.04 skipped: $UBUNTU_MIRROR does not answer or ubuntu-keyring is not installed"
    fi
  fi
}

# build_cloud_image: the twin's stand-in for the OS's official cloud image (Debian's AMIs ship cloud-init): the
# base image plus cloud-init, which runs user data at first boot from the metadata service the twin points it at.
build_cloud_image() {
  local base="$IMAGE_PREFIX/debian12:latest" image="$IMAGE_PREFIX/debian12-cloud:latest" hash work
  hash="$( (image_label "$base"; sed -n '/^build_cloud_image()/,/^}/p' "${BASH_SOURCE[0]}") | sha256sum | cut -c1-16)"
  if [ "$(image_label "$image")" = "$hash" ]; then
    log "$image is up to date (inputs $hash)"
    return 0
  fi
  log "building $image from $base (+ cloud-init)"
  work="ollama-testbed-cloud-$$"
  podman rm -f "$work" >/dev/null 2>&1 || true
  podman run --name "$work" --entrypoint /bin/sh "$base" -c '
      set -e
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends cloud-init >/dev/null
      # No datasource of its own: the link-local metadata address is never probed. The twin mounts the datasource
      # and its address per instance (tools/twin/controller.py).
      printf "datasource_list: [None]\ndisable_root: false\nssh_pwauth: false\nusers: []\nlocale: false\n" \
        >/etc/cloud/cloud.cfg.d/10-platform-image.cfg
      # The twin mounts the host CA bundle over the file of this package in every instance (tools/twin/controller.py):
      # an upgrade could not replace a mounted file, so the dist-upgrade of the bake leaves the package as it is.
      apt-mark hold ca-certificates >/dev/null
      rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /var/lib/cloud/*' \
    >"$CACHE/cloud-image.log" 2>&1 \
    || { podman rm -f "$work" >/dev/null 2>&1; die "installing cloud-init into $image failed (log: .cache/cloud-image.log)"; }
  podman commit --quiet --change 'CMD ["/sbin/init"]' --change 'ENTRYPOINT []' \
    --change "LABEL ollama-platform.inputs=$hash" "$work" "$image" >/dev/null \
    || die "podman commit of $image failed: run 'podman info' to check the podman installation"
  podman rm -f "$work" >/dev/null
  log "built $image"
}

build_ollama_release() {
  local out="$CACHE/ollama-release"
  [ -f "$ROOT/packages/ollama_double/src/ollama_double/build_release.py" ] || die "packages/ollama_double/src/ollama_double/build_release.py is missing"
  python3 "$ROOT/packages/ollama_double/src/ollama_double/build_release.py" --output-dir "$out" >/dev/null \
    || die "building the Ollama release archive failed: run python3 packages/ollama_double/src/ollama_double/build_release.py --output-dir $out"
  log "Ollama release archive in .cache/ollama-release/"
}

main() {
  case "${1:-all}" in
    conf) write_containers_conf ;;
    images) write_containers_conf; build_images ;;
    ollama-release) build_ollama_release ;;
    all) write_containers_conf; build_images; build_ollama_release ;;
    *) die "unknown target '$1': use images, conf, ollama-release or all" ;;
  esac
}

main "$@"
