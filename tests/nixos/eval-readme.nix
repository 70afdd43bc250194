# The NixOS configuration the README shows (its `services."3fs"` block), for evaluating the
# module with it: `nix-eval-module.sh .#nixosModules.default tests/nixos/eval-readme.nix` in
# test-build.sh. Keep it in step with the README.
{
  services."3fs" = {
    enable = true;
    clusterId = "prod";
    clusterSecretFile = "/run/keys/3fs-cluster-secret";
    mgmtdAddresses = [
      "mgmt1:8000"
      "mgmt2:8000"
    ];
    openFirewall = true;
    storage = {
      enable = true;
      nodeId = 201;
      targets = [
        "/data/nvme0/3fs"
        "/data/nvme1/3fs"
      ];
      config.storage.sync_writes = true;
    };
  };
}
