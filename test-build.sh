#!/usr/bin/env bash
# Builds the bundles and native addons, smoke-tests every built binary, runs the local cluster
# from the built artifacts for a write/read check through its mount, parses every .nix file, and
# runs `nix build` / `nix flake check` where a working Nix with nixpkgs is available.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '== %s\n' "$*"; }

say "build"
node scripts/build.mjs

say "binaries answer --help and --version"
version=$(node -p "require('./package.json').version")
for bin in $(node -p "Object.values(require('./package.json').bin).filter((v, i, a) => a.indexOf(v) === i).join(' ')"); do
  [ -f "$bin" ] || { echo "missing built binary $bin" >&2; exit 1; }
  node "$bin" --help >/dev/null
  got=$(node "$bin" --version)
  [ "$got" = "$version" ] || { echo "$bin --version printed '$got', expected '$version'" >&2; exit 1; }
  echo "ok  $bin"
done

say "local cluster from the built artifacts"
if [ -e /dev/fuse ] && [ -f dist/hf3fs_fuse_main.js ]; then
  work=$(mktemp -d)
  mount="$work/mnt"
  mkdir -p "$mount"
  port=$((20000 + RANDOM % 20000))
  node dist/3fs.js local --data "$work/data" --mount "$mount" --mgmtd-port "$port" >"$work/local.log" 2>&1 &
  local_pid=$!
  cleanup() {
    kill -INT "$local_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$local_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$local_pid" 2>/dev/null || true
    fusermount3 -u -z "$mount" 2>/dev/null || true
    rm -rf "$work"
  }
  trap cleanup EXIT
  for _ in $(seq 1 300); do mountpoint -q "$mount" && break; sleep 0.2; done
  mountpoint -q "$mount" || { cat "$work/local.log" >&2; echo "the local cluster did not mount" >&2; exit 1; }
  head -c 8M /dev/urandom >"$work/data.bin"
  cp "$work/data.bin" "$mount/data.bin"
  sync "$mount/data.bin"
  cmp "$work/data.bin" "$mount/data.bin"
  echo "ok  8 MiB written and read back through the mount"
  cleanup
  trap - EXIT
elif [ "${CI:-}" = true ]; then
  echo "the local cluster check needs /dev/fuse and the built FUSE daemon (dist/hf3fs_fuse_main.js), and CI=true requires it" >&2
  exit 1
else
  echo "skipped: /dev/fuse or the FUSE daemon is missing"
fi

say "nix files parse"
if command -v nix-instantiate >/dev/null; then
  while IFS= read -r file; do
    nix-instantiate --parse "$file" >/dev/null
    echo "ok  $file"
  done < <(git ls-files '*.nix')
else
  echo "skipped: nix-instantiate is not installed (Debian: nix-bin)"
fi

say "nix build"
if command -v nix >/dev/null && nix --extra-experimental-features 'nix-command flakes' eval --raw nixpkgs#hello.name >/dev/null 2>&1; then
  nix --extra-experimental-features 'nix-command flakes' build .#3fs
  nix --extra-experimental-features 'nix-command flakes' flake check
else
  echo "skipped: no Nix with a reachable nixpkgs here (nix build .#3fs and nix flake check need one)"
fi
