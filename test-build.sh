#!/usr/bin/env bash
# Builds the bundles and native addons, smoke-tests every built binary, runs the local cluster
# from the built artifacts for a write/read check through its mount, parses every .nix file,
# evaluates the flake's package, dev shell and VM test and the NixOS module (README's and an
# every-service configuration) offline against a stand-in nixpkgs, and runs `nix build` / `nix
# flake check` where a working Nix with nixpkgs is available.
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

# Where the offline Nix evaluator lives: beside the project in its shared directory, or beside
# the repository this work tree was cloned from when that is a local path.
find_nix_eval() {
  local shared="${THREEFS_SHARED_DIR:-$PWD/../shared}" origin
  if [ -d "$shared/nix-eval" ]; then
    echo "$shared/nix-eval"
    return
  fi
  origin=$(git remote get-url origin 2>/dev/null || true)
  origin=${origin#file://}
  if [ -n "$origin" ] && [ "${origin#/}" != "$origin" ] && [ -d "$origin/../shared/nix-eval" ]; then
    (cd "$origin/../shared/nix-eval" && pwd)
  fi
}

# What the offline evaluation needs that this machine lacks (empty when nothing is missing).
nix_eval_missing() {
  local missing=()
  command -v nix >/dev/null || missing+=("nix (Debian: nix-bin)")
  command -v nix-instantiate >/dev/null || missing+=("nix-instantiate (Debian: nix-bin)")
  command -v python3 >/dev/null || missing+=("python3")
  [ -n "$nix_eval" ] && [ -x "$nix_eval/nix-eval-flake.sh" ] && [ -x "$nix_eval/nix-eval-module.sh" ] ||
    missing+=("the offline evaluator nix-eval (looked in ${THREEFS_SHARED_DIR:-$PWD/../shared}/nix-eval and in shared/nix-eval beside the origin repository)")
  local joined="" item
  for item in "${missing[@]}"; do joined="${joined:+$joined; }$item"; done
  echo "$joined"
}

# One line per part of a JSON document read from stdin: $1 says which summary.
summarize() {
  node -e '
    const kind = process.argv[1];
    const text = require("node:fs").readFileSync(0, "utf8");
    // The module view is indented JSON, possibly followed by notes: keep the first document.
    const end = text.indexOf("\n}");
    const value = JSON.parse(end === -1 ? text : text.slice(0, end + 2));
    if (kind === "test") {
      console.log(`    test ${value.name}`);
      for (const [name, node] of Object.entries(value.nodes))
        console.log(`    node ${name}: units ${node.services.join(" ")}; /etc ${node.etc.join(" ")}; tcp ${node.tcpPorts.join(" ") || "-"}`);
    } else {
      for (const [name, unit] of Object.entries(value.systemd.services))
        console.log(`    unit ${name}: ${unit.serviceConfig.ExecStart}`);
      for (const [name, file] of Object.entries(value.environment.etc))
        console.log(`    /etc/${name}: ${(file.renderedSource ?? "").split("\n").filter((line) => line.startsWith("[")).join(" ")}`);
      console.log(`    firewall tcp ${value.networking.firewall.allowedTCPPorts.join(" ") || "-"}; foundationdb ${value.services.foundationdb.enable ? "on" : "off"}`);
    }
  ' "$1"
}

say "nix: every .nix file parses, and the flake and the module evaluate (offline, stand-in nixpkgs)"
nix_eval=$(find_nix_eval)
missing=$(nix_eval_missing)
if [ -z "$missing" ]; then
  echo "evaluator: $nix_eval"
  while IFS= read -r file; do
    # Parsing needs no build users; this keeps nix from warning that there are none.
    NIX_CONFIG="build-users-group =" nix-instantiate --parse "$file" >/dev/null
    echo "ok  $file parses"
  done < <(git ls-files '*.nix')
  # The evaluator reads the flake as `nix build` does: only files git knows.
  for attr in packages.x86_64-linux.default.drvPath devShells.x86_64-linux.default.drvPath; do
    drv=$("$nix_eval/nix-eval-flake.sh" --raw . "$attr")
    echo "ok  $attr = $drv"
  done
  report=$("$nix_eval/nix-eval-flake.sh" . checks.x86_64-linux.integration-test.stubReport)
  echo "ok  checks.x86_64-linux.integration-test (every node and the test script evaluated):"
  summarize test <<<"$report"
  for config in tests/nixos/eval-readme.nix tests/nixos/eval-all-services.nix; do
    rendered=$("$nix_eval/nix-eval-module.sh" --no-files .#nixosModules.default "$config")
    echo "ok  nixosModules.default with $config (no failed assertion):"
    summarize module <<<"$rendered"
  done
elif [ "${CI:-}" = true ]; then
  echo "CI=true but the Nix evaluation cannot run; missing: $missing" >&2
  exit 1
else
  echo "skipped: missing $missing"
fi

say "nix build"
if command -v nix >/dev/null && nix --extra-experimental-features 'nix-command flakes' eval --raw nixpkgs#hello.name >/dev/null 2>&1; then
  nix --extra-experimental-features 'nix-command flakes' build .#3fs
  nix --extra-experimental-features 'nix-command flakes' flake check
else
  echo "skipped: no Nix with a reachable nixpkgs here (nix build .#3fs and nix flake check need one)"
fi
