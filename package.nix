# The 3fs package: esbuild bundles of every binary, the native addons (FUSE low-level binding,
# sd_notify, better-sqlite3, the optional FoundationDB binding) built with node-gyp against this
# Node's headers, wrappers for the binaries, default configs under etc/3fs and the client
# library's type declarations.
#
# npm dependencies: package-lock.json carries no download addresses, so nixpkgs' per-entry npm
# fetchers cannot use it. They are fetched by one fixed-output derivation that runs `npm ci
# --ignore-scripts` against npm's default registry. `npm ci` installs only the optional packages
# of the platform it runs on (esbuild's, @node-rs/crc32's, ... for x64 or arm64), so that tree
# and its hash differ per system: `npmDepsHashes` holds one per system. After any change to
# package-lock.json, the first `nix build .#packages.<system>.3fs` on each system fails with that
# system's new hash ("got: sha256-…"): put it under the system's name below.
{
  lib,
  stdenv,
  nodejs_20,
  python3,
  pkg-config,
  fuse3,
  foundationdb,
  makeWrapper,
  cacert,
}:
let
  nodejs = nodejs_20;
  packageJson = lib.importJSON ./package.json;
  # One hash per system the package builds on (see above); the systems listed are its platforms.
  npmDepsHashes = {
    x86_64-linux = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    aarch64-linux = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  };
  inherit (stdenv.hostPlatform) system;
  npmDepsHash =
    npmDepsHashes.${system}
      or (throw "3fs: package.nix has no npm dependency hash for ${system}; add one to npmDepsHashes");

  source = lib.fileset.toSource {
    root = ./.;
    fileset = lib.fileset.unions [
      ./package.json
      ./package-lock.json
      ./tsconfig.json
      ./tsconfig.declarations.json
      ./scripts
      ./src
      ./native
      ./etc
    ];
  };

  npmDeps = stdenv.mkDerivation {
    # The system in the name keeps the trees apart: a hash copied to the wrong system names a
    # path that must be fetched again (and fails), not the other system's tree already stored.
    pname = "3fs-npm-deps-${system}";
    inherit (packageJson) version;
    src = lib.fileset.toSource {
      root = ./.;
      fileset = lib.fileset.unions [
        ./package.json
        ./package-lock.json
      ];
    };
    nativeBuildInputs = [
      nodejs
      cacert
    ];
    dontConfigure = true;
    buildPhase = ''
      runHook preBuild
      export HOME=$TMPDIR
      npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn
      runHook postBuild
    '';
    installPhase = ''
      runHook preInstall
      cp -r node_modules $out
      runHook postInstall
    '';
    # Store paths must not leak into a fixed-output derivation: no shebang patching here.
    dontFixup = true;
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash = npmDepsHash;
  };

  binaries = [
    "mgmtd_main"
    "meta_main"
    "storage_main"
    "monitor_collector_main"
    "hf3fs_fuse_main"
    "nfs_gateway_main"
    "s3_gateway_main"
    "admin"
    "3fs"
  ];
in
stdenv.mkDerivation {
  pname = "3fs";
  inherit (packageJson) version;
  src = source;

  nativeBuildInputs = [
    nodejs
    python3
    pkg-config
    makeWrapper
  ];
  buildInputs = [
    fuse3
    foundationdb
  ];

  configurePhase = ''
    runHook preConfigure
    export HOME=$TMPDIR
    export npm_config_nodedir=${nodejs}
    cp -r ${npmDeps} node_modules
    chmod -R u+w node_modules
    patchShebangs node_modules
    runHook postConfigure
  '';

  buildPhase = ''
    runHook preBuild
    gyp="node $PWD/node_modules/node-gyp/bin/node-gyp.js"
    # Dependencies with native code, built offline against this Node's headers.
    (cd node_modules/better-sqlite3 && $gyp rebuild --release --nodedir=${nodejs})
    if [ -d node_modules/foundationdb ]; then
      (cd node_modules/foundationdb && \
        CXXFLAGS="-I${lib.getDev foundationdb}/include" LDFLAGS="-L${lib.getLib foundationdb}/lib" \
        $gyp rebuild --release --nodedir=${nodejs})
    fi
    # Bundles and our own addons (native/*).
    node scripts/build.mjs
    # Type declarations of the client library, for other Node programs.
    node node_modules/typescript/bin/tsc -p tsconfig.declarations.json
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    app=$out/lib/3fs
    mkdir -p $app $out/bin $out/etc/3fs
    npm prune --omit=dev --ignore-scripts --no-audit --no-fund --offline
    cp -r dist node_modules package.json types $app/
    for addon in native/*/; do
      # Folders without a binding.gyp (native/common) hold shared sources, not an addon.
      [ -f $addon/binding.gyp ] || continue
      name=$(basename $addon)
      mkdir -p $app/native/$name/build/Release
      cp native/$name/build/Release/$name.node $app/native/$name/build/Release/
    done
    cp etc/*.toml $out/etc/3fs/
    for bin in ${lib.concatStringsSep " " binaries}; do
      # The data path's payload buffers make V8 collect its whole heap often unless the old
      # generation starts larger (limits.dataPathInitialOldSpaceMiB; 3fs local passes the same).
      case $bin in
        storage_main | hf3fs_fuse_main | nfs_gateway_main | s3_gateway_main) heap="--initial-old-space-size=256" ;;
        *) heap="" ;;
      esac
      makeWrapper ${nodejs}/bin/node $out/bin/$bin \
        --add-flags "--enable-source-maps $heap $app/dist/$bin.js" \
        --prefix LD_LIBRARY_PATH : ${lib.makeLibraryPath [ foundationdb fuse3 ]} \
        --prefix PATH : ${lib.makeBinPath [ fuse3 ]}
    done
    ln -s admin $out/bin/3fs-admin
    runHook postInstall
  '';

  meta = {
    description = "Distributed file system for AI and data workloads in the architecture of DeepSeek's 3FS";
    license = lib.licenses.mit;
    platforms = lib.attrNames npmDepsHashes;
    mainProgram = "3fs-admin";
  };
}
