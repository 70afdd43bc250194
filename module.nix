# NixOS module: services."3fs" — the cluster manager, metadata, storage, monitor, FUSE client,
# NFS gateway and S3 gateway services of 3fs, each with `enable` and `config` (an attrset merged over the defaults below and
# rendered to TOML). Each service validates its TOML at start-up and refuses unknown keys.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services."3fs";
  settingsFormat = pkgs.formats.toml { };

  kvIsLocalFoundationDb =
    (cfg.kv.engine or "") == "foundationdb"
    && ((cfg.kv.foundationdb or { }).cluster_file or cfg.foundationdb.clusterFile)
      == "/etc/foundationdb/fdb.cluster";
  usesKv = cfg.mgmtd.enable || cfg.meta.enable;
  anyEnabled =
    cfg.mgmtd.enable || cfg.meta.enable || cfg.storage.enable || cfg.monitor.enable || cfg.fuse.enable || cfg.nfs.enable || cfg.s3.enable;

  clusterSection = {
    id = cfg.clusterId;
    secret_file = toString cfg.clusterSecretFile;
  };
  mgmtdClientSection = {
    addresses = cfg.mgmtdAddresses;
  };
  # The clients of the file system (FUSE client, gateways) that may call the cluster with a user token.
  tokenClients = [
    "fuse"
    "nfs"
    "s3"
  ];
  # A client's `[cluster]`: the shared one, plus `token_file` when the client has a token.
  clientClusterSection =
    name:
    clusterSection // lib.optionalAttrs (cfg.${name}.tokenFile != null) { token_file = cfg.${name}.tokenFile; };

  portOf = listen: lib.toInt (lib.last (lib.splitString ":" listen));

  # Default settings per service; `services."3fs".<service>.config` is merged over them.
  defaults = {
    mgmtd = {
      node = {
        id = cfg.mgmtd.nodeId;
        listen = "0.0.0.0:8000";
      };
      cluster = clusterSection;
      kv = cfg.kv;
      log.level = "info";
    };
    meta = {
      node = {
        id = cfg.meta.nodeId;
        listen = "0.0.0.0:8001";
      };
      cluster = clusterSection;
      kv = cfg.kv;
      mgmtd = mgmtdClientSection;
      log.level = "info";
    };
    storage = {
      node = {
        id = cfg.storage.nodeId;
        listen = "0.0.0.0:8002";
      };
      cluster = clusterSection;
      mgmtd = mgmtdClientSection;
      storage.targets = lib.imap1 (index: path: {
        id = cfg.storage.nodeId * 100 + index;
        inherit path;
      }) cfg.storage.targets;
      log.level = "info";
    };
    monitor = {
      node = {
        id = cfg.monitor.nodeId;
        listen = "0.0.0.0:8003";
      };
      cluster = clusterSection;
      mgmtd = mgmtdClientSection;
      # The dashboard, /metrics for the whole cluster and the JSON API.
      collector.http_listen = "0.0.0.0:8090";
      log.level = "info";
    };
    fuse = {
      # The FUSE client serves no RPC, so it has no listen address.
      node.id = cfg.fuse.nodeId;
      cluster = clientClusterSection "fuse";
      mgmtd = mgmtdClientSection;
      fuse.mount_point = cfg.fuse.mountPoint;
      log.level = "info";
    };
    nfs = {
      node.id = cfg.nfs.nodeId;
      cluster = clientClusterSection "nfs";
      mgmtd = mgmtdClientSection;
      nfs = {
        # NFS and MOUNT on one port: clients without a portmapper name it (port=, mountport=).
        listen = "0.0.0.0:${toString cfg.nfs.port}";
        exports = map (entry: {
          inherit (entry) path clients anonuid anongid;
          read_only = entry.readOnly;
          root_squash = entry.rootSquash;
          all_squash = entry.allSquash;
        }) cfg.nfs.exports;
      };
      log.level = "info";
    };
    s3 = {
      node.id = cfg.s3.nodeId;
      cluster = clientClusterSection "s3";
      mgmtd = mgmtdClientSection;
      s3 = {
        listen = "0.0.0.0:${toString cfg.s3.port}";
        export_root = cfg.s3.exportRoot;
        inherit (cfg.s3) region;
      }
      // lib.optionalAttrs (cfg.s3.tlsCertFile != null) { tls_cert_file = cfg.s3.tlsCertFile; }
      // lib.optionalAttrs (cfg.s3.tlsKeyFile != null) { tls_key_file = cfg.s3.tlsKeyFile; };
      log.level = "info";
    };
  };

  # Every service but the collector pushes its metrics to the collectors, when there are any.
  monitorPush = lib.optionalAttrs (cfg.collectorAddresses != [ ]) {
    monitor.collector = cfg.collectorAddresses;
  };
  settingsOf =
    name:
    lib.recursiveUpdate (
      if name == "monitor" then defaults.${name} else lib.recursiveUpdate defaults.${name} monitorPush
    ) cfg.${name}.config;
  configFileOf = name: settingsFormat.generate "${name}.toml" (settingsOf name);

  binaryOf = {
    mgmtd = "mgmtd_main";
    meta = "meta_main";
    storage = "storage_main";
    monitor = "monitor_collector_main";
    fuse = "hf3fs_fuse_main";
    nfs = "nfs_gateway_main";
    s3 = "s3_gateway_main";
  };

  # Hardening that Node tolerates: never MemoryDenyWriteExecute (V8's JIT needs W+X pages).
  hardening = {
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    RestrictNamespaces = true;
    SystemCallArchitectures = "native";
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
      "AF_INET6"
    ];
    CapabilityBoundingSet = "";
    UMask = "0077";
  };

  unitOf =
    name:
    {
      description,
      extraServiceConfig ? { },
      asRoot ? false,
    }:
    {
      inherit description;
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ] ++ lib.optional (usesKv && kvIsLocalFoundationDb) "foundationdb.service";
      restartTriggers = [ (configFileOf name) ];
      serviceConfig = lib.mkMerge [
        {
          Type = "notify";
          NotifyAccess = "main";
          ExecStart = "${cfg.package}/bin/${binaryOf.${name}} --config ${configFileOf name}";
          # `systemctl reload` re-reads the cluster secret file at once (it is also re-read every 2 s).
          ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
          Restart = "on-failure";
          RestartSec = 2;
          TimeoutStopSec = 60;
          LimitNOFILE = 1048576;
        }
        (lib.mkIf (!asRoot) (
          hardening
          // {
            User = cfg.user;
            Group = cfg.group;
            StateDirectory = "3fs";
            StateDirectoryMode = "0750";
            ReadWritePaths = [ cfg.dataDir ];
          }
        ))
        extraServiceConfig
      ];
    };

  serviceOptions = name: nodeId: {
    enable = lib.mkEnableOption "the 3fs ${name} service";
    nodeId = lib.mkOption {
      type = lib.types.ints.between 1 4294967295;
      default = nodeId;
      description = "This host's node id for the ${name} service; unique in the cluster.";
    };
    config = lib.mkOption {
      type = settingsFormat.type;
      default = { };
      description = "Settings merged over the defaults and rendered to ${name}.toml.";
    };
  };

  # `tokenFile` of a client of the file system: `reader` is who must be able to read it, `callers`
  # whose uids the client passes to the cluster, `note` what else the client's user needs.
  tokenFileOption =
    name:
    {
      reader,
      callers,
      note ? "",
    }:
    lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/keys/3fs-${name}-token";
      description = ''
        File holding the user token (one line, `<id>.<secret>`) the ${name} service calls the cluster
        with instead of the cluster secret: `token_file` of the `[cluster]` section of ${name}.toml.
        null: it calls with the cluster secret, as a node of the cluster. With a token the service
        pushes its metrics with it too; the module still gives it the secret file, which a FUSE
        daemon or an S3 gateway configured by hand may leave out (the NFS gateway keys its file
        handles with it).

        Make the token with `3fs-admin user-add NAME --uid U --gid G --trusted` (it prints the token
        once). The service acts for ${callers}: the cluster accepts the uids it passes only from a
        user added with `--trusted`; any other user's calls are all made as that user.${note}

        The file must be readable by ${reader}. It is read at start: restart the service after
        replacing it. Keep it out of the Nix store: deploy it with your secrets tool (the option is a
        string, not a Nix path, so that the token is never copied there).
      '';
    };
in
{
  options.services."3fs" = {
    enable = lib.mkEnableOption "3fs, a distributed file system for AI and data workloads";
    package = lib.mkPackageOption pkgs "3fs" { };
    user = lib.mkOption {
      type = lib.types.str;
      default = "threefs";
      description = "User the services (but the FUSE client) run as.";
    };
    group = lib.mkOption {
      type = lib.types.str;
      default = "threefs";
      description = "Group the services run as.";
    };
    configDir = lib.mkOption {
      type = lib.types.str;
      default = "/etc/3fs";
      description = "Where the rendered TOML files are linked for operators (under /etc).";
    };
    dataDir = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/3fs";
      description = "State directory of the services.";
    };
    clusterId = lib.mkOption {
      type = lib.types.strMatching "[A-Za-z0-9_.-]{1,64}";
      default = "3fs";
      description = "The cluster id; every node of a cluster uses the same.";
    };
    clusterSecretFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      example = "/run/keys/3fs-cluster-secret";
      description = ''
        File holding the cluster secret (at least 16 characters) that authenticates nodes to each
        other. Keep it out of the Nix store: deploy it with your secrets tool. It may list several
        secrets, one per line, during a rotation: the first is the one to connect with, every one
        is accepted. The services re-read it every 2 s and on `systemctl reload`, so a rotation
        (README, "Rotating the cluster secret") needs no restart.
      '';
    };
    foundationdb.clusterFile = lib.mkOption {
      type = lib.types.str;
      default = "/etc/foundationdb/fdb.cluster";
      description = "FoundationDB cluster file used by mgmtd and meta.";
    };
    kv = lib.mkOption {
      type = settingsFormat.type;
      default = {
        engine = "foundationdb";
        foundationdb.cluster_file = cfg.foundationdb.clusterFile;
      };
      defaultText = lib.literalExpression ''{ engine = "foundationdb"; foundationdb.cluster_file = cfg.foundationdb.clusterFile; }'';
      description = "The `[kv]` section shared by mgmtd and meta (sqlite, postgres or foundationdb).";
    };
    mgmtdAddresses = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ "127.0.0.1:8000" ];
      description = "host:port of every mgmtd, for the other services and the admin CLI.";
    };
    collectorAddresses = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "monitor1:8003" ];
      description = "host:port of the monitor collectors every service pushes its metrics to.";
    };
    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the listen ports of the enabled services in the firewall.";
    };

    mgmtd = serviceOptions "mgmtd" 1;
    meta = serviceOptions "meta" 100;
    storage = serviceOptions "storage" 200 // {
      targets = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [ ];
        example = [
          "/data/ssd0/3fs"
          "/data/ssd1/3fs"
        ];
        description = "Target directories, one or more per disk; target ids are nodeId * 100 + position.";
      };
    };
    monitor = serviceOptions "monitor" 300;
    renderedSettings = lib.mkOption {
      type = lib.types.attrsOf settingsFormat.type;
      internal = true;
      readOnly = true;
      description = "The settings each enabled service's TOML is rendered from (for tests and inspection).";
    };
    fuse = serviceOptions "fuse" 400 // {
      mountPoint = lib.mkOption {
        type = lib.types.str;
        default = "/mnt/3fs";
        description = "Where the file system is mounted.";
      };
      tokenFile = tokenFileOption "fuse" {
        reader = "root (the FUSE client runs as root)";
        callers = "the local processes using the mount, with their uids";
      };
    };
    nfs = serviceOptions "nfs" 500 // {
      port = lib.mkOption {
        type = lib.types.port;
        default = 2049;
        description = "The one TCP port NFS (v3 and v4.0) and MOUNT answer on.";
      };
      exports = lib.mkOption {
        type = lib.types.listOf (
          lib.types.submodule {
            options = {
              path = lib.mkOption {
                type = lib.types.str;
                example = "/shared";
                description = "The directory of the namespace served (absolute, normalized).";
              };
              clients = lib.mkOption {
                type = lib.types.listOf lib.types.str;
                example = [ "10.0.0.0/24" ];
                description = "Client networks (CIDR), addresses, or \"*\"; no other address is served.";
              };
              readOnly = lib.mkOption {
                type = lib.types.bool;
                default = false;
                description = "Refuse every change through this export.";
              };
              rootSquash = lib.mkOption {
                type = lib.types.bool;
                default = true;
                description = "Map uid and gid 0 of callers to anonuid and anongid.";
              };
              allSquash = lib.mkOption {
                type = lib.types.bool;
                default = false;
                description = "Map every caller to anonuid and anongid.";
              };
              anonuid = lib.mkOption {
                type = lib.types.ints.u32;
                default = 65534;
                description = "The uid squashed callers get.";
              };
              anongid = lib.mkOption {
                type = lib.types.ints.u32;
                default = 65534;
                description = "The gid squashed callers get.";
              };
            };
          }
        );
        default = [ ];
        example = lib.literalExpression ''[ { path = "/"; clients = [ "10.0.0.0/24" ]; } ]'';
        description = "What the NFS gateway serves, to whom, and how callers' identities are mapped.";
      };
      tokenFile = tokenFileOption "nfs" {
        reader = "the service user (`services.\"3fs\".user`)";
        callers = "its NFS clients, with their uids after squashing";
      };
    };
    s3 = serviceOptions "s3" 600 // {
      port = lib.mkOption {
        type = lib.types.port;
        default = 9000;
        description = "The TCP port the S3 endpoint answers on (HTTP, or HTTPS with a certificate).";
      };
      exportRoot = lib.mkOption {
        type = lib.types.str;
        default = "/";
        example = "/s3";
        description = "The directory of the namespace whose subdirectories are the buckets.";
      };
      region = lib.mkOption {
        type = lib.types.strMatching "[a-z0-9-]{1,32}";
        default = "us-east-1";
        description = "The region clients sign their requests for.";
      };
      tlsCertFile = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "/run/keys/s3.crt";
        description = "PEM certificate (chain) of the endpoint; with tlsKeyFile it serves HTTPS.";
      };
      tlsKeyFile = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "/run/keys/s3.key";
        description = ''
          PEM private key of the certificate, readable by the service user. Keep it out of the Nix
          store: deploy it with your secrets tool.
        '';
      };
      tokenFile = tokenFileOption "s3" {
        reader = "the service user (`services.\"3fs\".user`)";
        callers = "the owners of the S3 keys its requests are signed with";
        note = " Looking the S3 keys up needs a trusted (or admin) user too.";
      };
    };
  };

  config = lib.mkMerge [
    {
      services."3fs".renderedSettings = lib.genAttrs (lib.filter (name: cfg.${name}.enable) [
        "mgmtd"
        "meta"
        "storage"
        "monitor"
        "fuse"
        "nfs"
        "s3"
      ]) settingsOf;
    }
    (lib.mkIf (cfg.enable && anyEnabled) {
    assertions = [
      {
        assertion = cfg.clusterSecretFile != null;
        message = "services.\"3fs\".clusterSecretFile must name a file holding the cluster secret.";
      }
      {
        assertion = !cfg.storage.enable || cfg.storage.targets != [ ];
        message = "services.\"3fs\".storage is enabled but has no targets.";
      }
      {
        assertion = !cfg.fuse.enable || lib.hasPrefix "/" cfg.fuse.mountPoint;
        message = "services.\"3fs\".fuse.mountPoint must be an absolute path.";
      }
      {
        assertion = !cfg.nfs.enable || cfg.nfs.exports != [ ];
        message = "services.\"3fs\".nfs is enabled but exports nothing.";
      }
      {
        assertion = !cfg.s3.enable || (cfg.s3.tlsCertFile == null) == (cfg.s3.tlsKeyFile == null);
        message = "services.\"3fs\".s3.tlsCertFile and tlsKeyFile go together.";
      }
      {
        assertion = !cfg.s3.enable || lib.hasPrefix "/" cfg.s3.exportRoot;
        message = "services.\"3fs\".s3.exportRoot must be an absolute path of the namespace.";
      }
      {
        assertion = cfg.mgmtdAddresses != [ ];
        message = "services.\"3fs\".mgmtdAddresses must list at least one mgmtd.";
      }
    ]
    ++ map (name: {
      assertion =
        let
          tokenFile = cfg.${name}.tokenFile;
        in
        !cfg.${name}.enable
        || tokenFile == null
        || (lib.hasPrefix "/" tokenFile && !lib.hasPrefix "${builtins.storeDir}/" tokenFile);
      message = "services.\"3fs\".${name}.tokenFile must be an absolute path outside the Nix store.";
    }) tokenClients;

    users.users.${cfg.user} = {
      isSystemUser = true;
      group = cfg.group;
      home = cfg.dataDir;
      extraGroups = lib.optional (usesKv && kvIsLocalFoundationDb) "foundationdb";
    };
    users.groups.${cfg.group} = { };

    services.foundationdb = lib.mkIf (usesKv && kvIsLocalFoundationDb) {
      enable = lib.mkDefault true;
      package = lib.mkDefault pkgs.foundationdb;
    };

    environment.systemPackages = [ cfg.package ];
    environment.etc = lib.listToAttrs (
      lib.concatMap
        (
          name:
          lib.optional cfg.${name}.enable {
            name = "${lib.removePrefix "/etc/" cfg.configDir}/${name}.toml";
            value.source = configFileOf name;
          }
        )
        [
          "mgmtd"
          "meta"
          "storage"
          "monitor"
          "fuse"
          "nfs"
          "s3"
        ]
      ++ [
        {
          # What the admin CLI needs: `3fs-admin --config /etc/3fs/admin.toml list-nodes`.
          name = "${lib.removePrefix "/etc/" cfg.configDir}/admin.toml";
          value.source = settingsFormat.generate "admin.toml" (
            {
              cluster = clusterSection;
              mgmtd = mgmtdClientSection;
            }
            // lib.optionalAttrs usesKv { kv = cfg.kv; }
          );
        }
      ]
    );

    systemd.tmpfiles.rules =
      [ "d ${cfg.dataDir} 0750 ${cfg.user} ${cfg.group} - -" ]
      ++ lib.optionals cfg.storage.enable (map (path: "d ${path} 0750 ${cfg.user} ${cfg.group} - -") cfg.storage.targets)
      ++ lib.optional cfg.fuse.enable "d ${cfg.fuse.mountPoint} 0755 root root - -";

    systemd.services = lib.mkMerge [
      (lib.mkIf cfg.mgmtd.enable { "3fs-mgmtd" = unitOf "mgmtd" { description = "3fs cluster manager"; }; })
      (lib.mkIf cfg.meta.enable {
        "3fs-meta" = unitOf "meta" { description = "3fs metadata service"; } // {
          after = [ "3fs-mgmtd.service" ] ++ (unitOf "meta" { description = ""; }).after;
        };
      })
      (lib.mkIf cfg.storage.enable {
        "3fs-storage" = unitOf "storage" {
          description = "3fs storage service";
          extraServiceConfig.ReadWritePaths = cfg.storage.targets;
        } // {
          # The chunk engine's disk work and syncs run on libuv's thread pool (4 threads by default).
          environment.UV_THREADPOOL_SIZE = lib.mkDefault "16";
        };
      })
      (lib.mkIf cfg.monitor.enable { "3fs-monitor" = unitOf "monitor" { description = "3fs monitor collector"; }; })
      (lib.mkIf cfg.fuse.enable {
        "3fs-fuse" = unitOf "fuse" {
          description = "3fs FUSE client";
          # The FUSE client mounts for every local user (allow_other) and needs /dev/fuse: root.
          asRoot = true;
          extraServiceConfig = {
            ExecStopPost = "-${pkgs.fuse3}/bin/fusermount3 -u -z ${cfg.fuse.mountPoint}";
          };
        };
      })
      (lib.mkIf cfg.nfs.enable {
        "3fs-nfs" = unitOf "nfs" {
          description = "3fs NFS gateway";
          # The service user, with only the right to bind NFS's port (2049 is privileged).
          extraServiceConfig = {
            AmbientCapabilities = [ "CAP_NET_BIND_SERVICE" ];
            CapabilityBoundingSet = lib.mkForce [ "CAP_NET_BIND_SERVICE" ];
          };
        };
      })
      (lib.mkIf cfg.s3.enable {
        "3fs-s3" = unitOf "s3" {
          description = "3fs S3 gateway";
          # The service user; the right to bind a privileged port (443) only when asked for one.
          extraServiceConfig = lib.optionalAttrs (cfg.s3.port < 1024) {
            AmbientCapabilities = [ "CAP_NET_BIND_SERVICE" ];
            CapabilityBoundingSet = lib.mkForce [ "CAP_NET_BIND_SERVICE" ];
          };
        };
      })
    ];

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall (
      lib.concatMap (name: lib.optional cfg.${name}.enable (portOf (settingsOf name).node.listen)) [
        "mgmtd"
        "meta"
        "storage"
        "monitor"
      ]
      ++ lib.optional cfg.monitor.enable (portOf (settingsOf "monitor").collector.http_listen)
      ++ lib.optional cfg.nfs.enable (portOf (settingsOf "nfs").nfs.listen)
      ++ lib.optional cfg.s3.enable (portOf (settingsOf "s3").s3.listen)
    );
    })
  ];
}
