{
  "targets": [
    {
      "target_name": "chunk-engine",
      "sources": [
        "src/addon.cc",
        "src/crc32c.cc",
        "src/data-files.cc",
        "src/engine.cc",
        "src/meta-log.cc",
        "src/read-ring.cc",
        "src/read-server.cc",
        "src/slot-allocator.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wextra"]
    }
  ]
}
