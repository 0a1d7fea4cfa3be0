#!/usr/bin/env bash
# The stand-in for AWS's Lambda base image (public.ecr.aws/lambda/python, out of reach here), for `make sam-local`:
# a Debian root file system whose Python is the runtime's version, with AWS's runtime interface client and boto3
# (requirements-sam-local.txt, hashed) in /var/runtime, imported into podman as IMAGE.
#   build-image.sh IMAGE RUNTIME SUITE DEB_ARCH WHEEL_PLATFORM PODMAN_COMMAND...
# The tag run.sh gives IMAGE carries a hash of this file and of the requirements: a changed recipe builds anew.
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=$1 RUNTIME=$2 SUITE=$3 DEB_ARCH=$4 WHEEL_PLATFORM=$5
shift 5
PODMAN=("$@")

# The Debian archive the machine's apt reads (deb822 or one-line sources), unless DEBIAN_MIRROR names another.
sources=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
mirror=${DEBIAN_MIRROR:-$(grep -E '^(URIs:|deb )' <<<"$sources" | grep -oE 'https?://[^] ]+' | grep -E '/debian/?$' | head -1 || true)}
mirror=${mirror:-http://deb.debian.org/debian}

rootfs=$(mktemp -d /var/tmp/portal-sessions-rootfs.XXXXXX)
remove_rootfs() {  # whatever debootstrap left mounted inside (proc, sys, dev) is unmounted first, never removed
  awk -v root="$rootfs/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf --one-file-system "$rootfs" "$rootfs.log"
}
trap remove_rootfs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "sam-local: building $IMAGE: debootstrap $SUITE/$DEB_ARCH from $mirror" >&2
debootstrap --variant=minbase --arch="$DEB_ARCH" --include=python3 "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
  || { tail -20 "$rootfs.log" >&2; echo "sam-local: debootstrap failed" >&2; exit 1; }
version=$(chroot "$rootfs" python3 -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')
[ "$version" = "$RUNTIME" ] || { echo "sam-local: Debian $SUITE has $version, not $RUNTIME" >&2; exit 1; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

.venv/bin/python -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile --no-deps \
  --require-hashes --only-binary=:all: --platform "$WHEEL_PLATFORM" --implementation cp \
  --python-version "${RUNTIME#python}" --target "$rootfs/var/runtime" -r requirements-sam-local.txt
mkdir -p "$rootfs/var/task" "$rootfs/opt"
# What the Runtime Interface Emulator starts; Lambda's path order: the function, the layers, the runtime.
cat >"$rootfs/var/runtime/bootstrap" <<EOF
#!/bin/sh
export PYTHONPATH="/var/task:/opt/python/lib/$RUNTIME/site-packages:/opt/python:/var/runtime"
exec /usr/bin/python3 -m awslambdaric "\$_HANDLER"
EOF
chmod 0755 "$rootfs/var/runtime/bootstrap"

tar -C "$rootfs" -c . | "${PODMAN[@]}" import --quiet --arch "$DEB_ARCH" --os linux \
  --change "ENV LAMBDA_TASK_ROOT=/var/task" --change "ENV LAMBDA_RUNTIME_DIR=/var/runtime" \
  --change "ENV LANG=C.UTF-8" --change "ENV TZ=:/etc/localtime" --change "WORKDIR /var/task" \
  --change 'ENTRYPOINT ["/var/runtime/bootstrap"]' - "$IMAGE" >/dev/null
