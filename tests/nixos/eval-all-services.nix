# Every service of the module enabled on one host, metrics pushed to the collector: the
# configuration test-build.sh evaluates the module with, and whose rendered settings
# tests/unit/nix/module-eval.test.ts checks against each service's own validator. The FUSE
# client and the S3 gateway call the cluster with user tokens, the NFS gateway with the cluster
# secret: the test checks `token_file` is rendered exactly where a tokenFile is set.
{
  services."3fs" = {
    enable = true;
    clusterSecretFile = "/run/keys/3fs-cluster-secret";
    collectorAddresses = [ "127.0.0.1:8003" ];
    openFirewall = true;
    mgmtd.enable = true;
    meta.enable = true;
    storage = {
      enable = true;
      targets = [
        "/srv/3fs/target1"
        "/srv/3fs/target2"
      ];
    };
    monitor.enable = true;
    fuse = {
      enable = true;
      tokenFile = "/run/keys/3fs-fuse-token";
    };
    nfs = {
      enable = true;
      exports = [
        {
          path = "/";
          clients = [ "10.0.0.0/24" ];
        }
        {
          path = "/datasets";
          clients = [ "*" ];
          readOnly = true;
          allSquash = true;
        }
      ];
    };
    s3 = {
      enable = true;
      exportRoot = "/buckets";
      tokenFile = "/run/keys/3fs-s3-token";
    };
  };
}
