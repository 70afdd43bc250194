{
  description = "3fs-ts: a distributed file system for AI and data workloads (3FS architecture), in TypeScript";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      lib = nixpkgs.lib;
      # aarch64-linux builds the same way; FoundationDB's client library exists for both.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: _prev: {
        "3fs" = final.callPackage ./package.nix { };
      };

      packages = forAllSystems (
        _system: pkgs:
        let
          package = pkgs.callPackage ./package.nix { };
        in
        {
          "3fs" = package;
          default = package;
        }
      );

      nixosModules = {
        # The module with the package made available as pkgs."3fs".
        "3fs" = {
          imports = [ ./module.nix ];
          nixpkgs.overlays = [ self.overlays.default ];
        };
        default = self.nixosModules."3fs";
      };

      apps = forAllSystems (
        system: _pkgs: {
          admin = {
            type = "app";
            program = "${self.packages.${system}."3fs"}/bin/3fs-admin";
          };
          default = self.apps.${system}.admin;
        }
      );

      devShells = forAllSystems (
        _system: pkgs: {
          default = pkgs.mkShell {
            packages = with pkgs; [
              nodejs_20
              typescript
              node-gyp
              python3
              gcc
              gnumake
              cmake
              pkg-config
              fuse3
              foundationdb
              gdb
              valgrind
              linuxPackages.perf
            ];
            # node-gyp builds against this Node's headers, never downloaded ones.
            shellHook = ''
              export npm_config_nodedir=${pkgs.nodejs_20}
            '';
          };
        }
      );

      checks.x86_64-linux =
        let
          # nixpkgs with the overlay, so pkgs."3fs" exists for the test and its nodes.
          pkgs = import nixpkgs {
            system = "x86_64-linux";
            overlays = [ self.overlays.default ];
          };
        in
        {
          build = self.packages.x86_64-linux."3fs";
          integration-test = import ./tests/nixos/integration.nix {
            inherit pkgs;
            # The plain module, not nixosModules."3fs": runNixOSTest hands its nodes this pkgs
            # (node.pkgs), which makes nixpkgs.* read-only there, so no node may set
            # nixpkgs.overlays; the package comes from the overlay already in pkgs.
            module = ./module.nix;
            sources = ./.;
          };
        };
    };
}
