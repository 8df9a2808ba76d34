# shellcheck shell=bash
# Shared by the technicians' scripts: where things live on the box, and how to say what went wrong.
# ROOT (--root DIR) puts the whole tree under DIR, for tests and for preparing an image.

ROOT=${APPLIANCE_ROOT:-}
# shellcheck disable=SC2034  # the scripts that source this use them
set_root() {
  ROOT=${1%/}
  OPT=$ROOT/opt/appliance          # releases/NAME (source and its .venv), current and previous symlinks
  ETC=$ROOT/etc/appliance          # appliance.ini
  DATA=$ROOT/var/lib/appliance     # databases, knowledge/, models/, panel.key
  APP=$OPT/current/.venv/bin/appliance
}
set_root "$ROOT"
USER_NAME=appliance

die() { echo "${0##*/}: $*" >&2; exit 2; }
say() { echo "==> $*"; }
need_root() { [[ $(id -u) -eq 0 ]] || die "run this as root (sudo $0 ...)"; }

# The services appliance.target starts. Stop them by name to wait for them: `systemctl stop appliance.target`
# returns once the target is down, while its services are still stopping (the calls in progress finishing).
# shellcheck disable=SC2034  # the scripts that source this use it
SERVICES=(appliance-serve.service appliance-worker.service appliance-panel.service)

# True when systemd runs this box (not a chroot, a container without it, or a --root tree).
systemd_running() { [[ -z $ROOT && -d /run/systemd/system ]]; }

# Run the appliance command as the service user, with the box's settings.
as_appliance() {
  if [[ $(id -u) -eq 0 && -z $ROOT ]]; then
    runuser -u "$USER_NAME" -- "$APP" "$@"
  else
    "$APP" "$@"
  fi
}

# Copy a release (a checkout or unpacked release folder) to OPT/releases/NAME and build its venv from
# the wheels there; NAME is its version and a hash of its contents, so the same release is staged once.
# Prints NAME.
stage_release() {
  local source=$1 wheels=$2 version digest name release
  local files=(appliance models/manifest.json knowledge scripts systemd setup.cfg pyproject.toml README.md CHANGELOG.md)
  version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$source/appliance/__init__.py")
  [[ -n $version ]] || die "$source is not a release (no appliance/__init__.py with a version)"
  digest=$(cd "$source" && find "${files[@]}" -type f ! -path '*__pycache__*' -print0 | sort -z | xargs -0 sha256sum \
    | sha256sum | cut -c1-8)
  name=$version-$digest
  release=$OPT/releases/$name
  if [[ ! -x $release/.venv/bin/appliance ]]; then
    say "installing release $name into $release" >&2
    rm -rf "$release.partial"
    mkdir -p "$release.partial"
    (cd "$source" && tar --exclude=__pycache__ -cf - "${files[@]}") | tar -xf - -C "$release.partial"
    rm -rf "$release" && mv "$release.partial" "$release"
    # The venv's scripts name their own path, so it is made where it stays; a failed install is removed.
    python3 -m venv "$release/.venv"
    "$release/.venv/bin/pip" install --quiet --no-index --find-links "$wheels" "$release" >&2 || {
      rm -rf "$release"; die "pip could not install $name from $wheels (a wheel is missing?)"; }
  fi
  echo "$name"
}
