#!/bin/sh
# Installs proxy-rtmp as a systemd service: the executable, the default config
# (never over an existing one), the unit, a sysusers.d entry for the GPU groups
# and the notes; checks the config; then enables and (re)starts the service.
#
#   sudo ./install.sh [--binary PATH] [--no-start] [--no-check]
#   DESTDIR=/path/to/image/root ./install.sh [--binary PATH] [--no-check]
#
# With DESTDIR (image builds) the files land under that root and systemctl is
# never called; the service is enabled with the same symlink `systemctl enable`
# makes, so it starts on the image's first boot. See appliance/README.md.
set -eu

usage() {
  cat <<'EOF'
Usage: install.sh [--binary PATH] [--no-start] [--no-check]

  --binary PATH  the proxy-rtmp executable (default: ./proxy-rtmp next to this
                 script, else ../dist/proxy-rtmp from `npm run build`)
  --no-start     enable the service but do not (re)start it now
  --no-check     do not run `proxy-rtmp --check-config` (e.g. a DESTDIR image
                 for another CPU architecture)

Environment: DESTDIR=/root/of/an/image installs there and calls no systemctl.
EOF
}

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
binary=''
start=yes
check=yes
while [ $# -gt 0 ]; do
  case $1 in
    --binary) [ $# -ge 2 ] || { usage >&2; exit 2; }; binary=$2; shift 2 ;;
    --binary=*) binary=${1#--binary=}; shift ;;
    --no-start) start=no; shift ;;
    --no-check) check=no; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [ -z "$binary" ]; then
  if [ -f "$here/proxy-rtmp" ]; then binary=$here/proxy-rtmp
  elif [ -f "$here/../dist/proxy-rtmp" ]; then binary=$here/../dist/proxy-rtmp
  else echo "install.sh: no proxy-rtmp executable next to this script or in dist/ (run npm run build, or pass --binary PATH)" >&2; exit 1
  fi
fi
[ -f "$binary" ] || { echo "install.sh: $binary: not a file" >&2; exit 1; }
for f in config.yaml proxy-rtmp.service README.md; do
  [ -f "$here/$f" ] || { echo "install.sh: $here/$f is missing" >&2; exit 1; }
done

DESTDIR=${DESTDIR:-}
if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (or set DESTDIR to install into an image root)" >&2
  exit 1
fi
root=${DESTDIR%/}

bin_dir=$root/usr/local/bin
conf_dir=$root/etc/proxy-rtmp
unit_dir=$root/etc/systemd/system
doc_dir=$root/usr/local/share/doc/proxy-rtmp
sysusers_dir=$root/etc/sysusers.d

# Copies $1 to $2 with mode $3 through a temporary name, so a running binary is
# replaced, never written over (ETXTBSY), and a reader never sees half a file.
put() {
  cp -- "$1" "$2.tmp.$$"
  chmod "$3" "$2.tmp.$$"
  mv -f -- "$2.tmp.$$" "$2"
}

mkdir -p -- "$bin_dir" "$unit_dir" "$doc_dir" "$conf_dir" "$sysusers_dir"
put "$binary" "$bin_dir/proxy-rtmp" 0755
echo "installed $bin_dir/proxy-rtmp"

# The operator's config is never overwritten. 0600: it may hold auth secrets;
# the unit hands the service a copy through LoadCredential=.
if [ -e "$conf_dir/config.yaml" ] || [ -L "$conf_dir/config.yaml" ]; then
  echo "kept the existing $conf_dir/config.yaml (the shipped defaults are in $doc_dir/config.yaml)"
else
  (umask 077 && put "$here/config.yaml" "$conf_dir/config.yaml" 0600)
  echo "installed $conf_dir/config.yaml"
fi
put "$here/config.yaml" "$doc_dir/config.yaml" 0644
put "$here/README.md" "$doc_dir/README.md" 0644
put "$here/proxy-rtmp.service" "$unit_dir/proxy-rtmp.service" 0644
echo "installed $unit_dir/proxy-rtmp.service"
# The groups the unit names in SupplementaryGroups= (GPU render nodes): a missing
# one would stop the service from starting. systemd-sysusers creates them at boot.
printf '%s\n' '# proxy-rtmp: the groups of SupplementaryGroups= in proxy-rtmp.service (GPU render nodes)' \
  'g video - -' 'g render - -' > "$sysusers_dir/proxy-rtmp.conf.tmp.$$"
chmod 0644 "$sysusers_dir/proxy-rtmp.conf.tmp.$$"
mv -f -- "$sysusers_dir/proxy-rtmp.conf.tmp.$$" "$sysusers_dir/proxy-rtmp.conf"

if [ "$check" = yes ]; then
  # The same check the unit's ExecStartPre runs, on the file as installed and
  # without this shell's RTMP_* variables.
  if ! env -i PATH="$PATH" "$bin_dir/proxy-rtmp" --check-config --config "$conf_dir/config.yaml"; then
    echo "install.sh: the configuration does not load; fix $conf_dir/config.yaml and run install.sh again" >&2
    exit 1
  fi
fi

if [ -n "$DESTDIR" ]; then
  # What `systemctl enable` does for WantedBy=multi-user.target, without systemctl.
  mkdir -p -- "$unit_dir/multi-user.target.wants"
  ln -sfn /etc/systemd/system/proxy-rtmp.service "$unit_dir/multi-user.target.wants/proxy-rtmp.service"
  echo "enabled proxy-rtmp.service in $root (starts on first boot)"
  exit 0
fi

if ! command -v systemctl >/dev/null 2>&1; then
  echo "install.sh: systemctl not found: files installed, service not enabled" >&2
  exit 0
fi
command -v systemd-sysusers >/dev/null 2>&1 && systemd-sysusers "$sysusers_dir/proxy-rtmp.conf"
systemctl daemon-reload
systemctl enable proxy-rtmp.service
if [ "$start" = yes ]; then
  # restart, not enable --now: a re-install must run the new binary. Type=notify:
  # this returns once the listeners are up, or fails if the start fails.
  if ! systemctl restart proxy-rtmp.service; then
    echo "install.sh: proxy-rtmp failed to start; see: journalctl -u proxy-rtmp -n 50" >&2
    exit 1
  fi
  echo "proxy-rtmp is running; logs: journalctl -u proxy-rtmp -f"
else
  echo "enabled proxy-rtmp.service; start it with: systemctl start proxy-rtmp"
fi
