{
  "targets": [
    {
      "target_name": "fuse",
      "sources": [
        "src/addon.cc",
        "src/auto-unmount.cc",
        "src/directory-reply.cc",
        "src/dispatch.cc",
        "src/fast-reads.cc",
        "src/fast-reads-wrap.cc",
        "src/js-values.cc",
        "src/libfuse-log.cc",
        "src/operations.cc",
        "src/receive-pool.cc",
        "src/request.cc",
        "src/session.cc",
        "src/session-wrap.cc",
        "../chunk-engine/src/crc32c.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "cflags": ["<!@(node find-libfuse.mjs --cflags)"],
      "libraries": ["<!@(node find-libfuse.mjs --libs)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "FUSE_USE_VERSION=35"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"]
    }
  ]
}
