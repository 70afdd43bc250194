# NixOS VM test: FoundationDB plus mgmtd, meta, storage (three targets) and the monitor on one
# machine, a second machine mounting the file system with FUSE. It initializes the cluster,
# writes and reads files with checksums, restarts the storage service and checks the data, and
# runs the KV conformance suite and the meta services' integration tests (two meta_main processes
# over one KV) against the live FoundationDB.
{
  pkgs,
  module,
  sources,
}:
let
  secret = pkgs.writeText "3fs-cluster-secret" "vm-test-cluster-secret-0123456789";
  common = {
    imports = [ module ];
    virtualisation.memorySize = 2048;
    services."3fs" = {
      enable = true;
      clusterId = "vmtest";
      # A test secret may live in the store; a real deployment keeps it out.
      clusterSecretFile = secret;
      mgmtdAddresses = [ "server:8000" ];
      collectorAddresses = [ "server:8003" ];
      openFirewall = true;
    };
  };
  # The test suite with its development dependencies and the built dist/, for the runs against
  # FoundationDB inside the VM.
  testSuite = pkgs."3fs".overrideAttrs (_old: {
    pname = "3fs-test-suite";
    src = pkgs.lib.fileset.toSource {
      root = sources;
      fileset = pkgs.lib.fileset.unions [
        (sources + "/package.json")
        (sources + "/package-lock.json")
        (sources + "/tsconfig.json")
        (sources + "/tsconfig.declarations.json")
        (sources + "/vitest.config.ts")
        (sources + "/scripts")
        (sources + "/src")
        (sources + "/native")
        (sources + "/etc")
        (sources + "/tests")
      ];
    };
    installPhase = ''
      mkdir -p $out
      cp -r . $out/
    '';
  });
in
pkgs.testers.runNixOSTest {
  name = "3fs-integration";
  nodes = {
    server =
      { ... }:
      {
        imports = [ common ];
        virtualisation.diskSize = 4096;
        environment.systemPackages = [ pkgs.curl ];
        services."3fs" = {
          mgmtd.enable = true;
          meta.enable = true;
          monitor.enable = true;
          storage = {
            enable = true;
            targets = [
              "/var/lib/3fs/target1"
              "/var/lib/3fs/target2"
              "/var/lib/3fs/target3"
            ];
          };
        };
      };
    client =
      { ... }:
      {
        imports = [ common ];
        services."3fs".fuse.enable = true;
      };
  };

  testScript = ''
    start_all()
    server.wait_for_unit("foundationdb.service")
    server.wait_until_succeeds("fdbcli --exec status | grep -q 'Healthy'", timeout=120)

    server.succeed("3fs-admin --config /etc/3fs/admin.toml init-cluster")
    server.wait_for_unit("3fs-mgmtd.service")
    server.wait_for_open_port(8000)
    server.wait_for_unit("3fs-storage.service")
    server.wait_until_succeeds("3fs-admin --config /etc/3fs/admin.toml list-targets | grep -c up-to-date | grep -q 3", timeout=60)
    # One storage host: chains of one replica over its three targets.
    server.succeed("3fs-admin --config /etc/3fs/admin.toml create-chain-table --replicas 1")
    server.wait_for_unit("3fs-meta.service")
    server.wait_for_unit("3fs-monitor.service")
    server.wait_for_open_port(8090)

    client.wait_for_unit("3fs-fuse.service")
    client.wait_until_succeeds("mountpoint -q /mnt/3fs", timeout=60)
    client.succeed("head -c 64M /dev/urandom > /tmp/data && sha256sum /tmp/data | cut -d' ' -f1 > /tmp/data.sha")
    client.succeed("mkdir -p /mnt/3fs/dir && cp /tmp/data /mnt/3fs/dir/data && sync")
    client.succeed("test \"$(sha256sum /mnt/3fs/dir/data | cut -d' ' -f1)\" = \"$(cat /tmp/data.sha)\"")

    server.succeed("systemctl restart 3fs-storage.service")
    server.wait_for_unit("3fs-storage.service")
    client.wait_until_succeeds("test \"$(sha256sum /mnt/3fs/dir/data | cut -d' ' -f1)\" = \"$(cat /tmp/data.sha)\"", timeout=120)

    # Every service pushes to the collector: the cluster's counters are in one /metrics.
    server.wait_until_succeeds("curl -sf http://127.0.0.1:8090/metrics | grep threefs_rpc_server_calls_total | grep -q storage", timeout=60)
    server.succeed("curl -sf http://127.0.0.1:8090/ | grep -qi '<html'")

    # The KV conformance suite and the meta services (mgmtd_main and two meta_main from the suite's
    # dist/) on the live FoundationDB, each test under a key prefix of its own; without
    # FDB_CLUSTER_FILE both would skip. libfdb_c is found as the package's wrappers find it.
    server.succeed(
      "cp -r ${testSuite} /tmp/suite && chmod -R u+w /tmp/suite && cd /tmp/suite && "
      + "FDB_CLUSTER_FILE=/etc/foundationdb/fdb.cluster "
      + "LD_LIBRARY_PATH=${pkgs.lib.makeLibraryPath [ pkgs.foundationdb ]} "
      + "${pkgs.nodejs_20}/bin/node node_modules/vitest/vitest.mjs run --reporter=verbose "
      + "tests/unit/kv/foundationdb-conformance.test.ts tests/integration/meta/two-services.test.ts"
    )
  '';
}
