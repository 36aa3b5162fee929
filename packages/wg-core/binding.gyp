{
  "targets": [
    {
      "target_name": "wg_core",
      "conditions": [
        [
          "OS=='linux'",
          {
            "sources": [
              "native/addon.c",
              "native/aead.c",
              "native/io.c",
              "native/link.c",
              "native/lock.c",
              "native/offload.c",
              "native/transparent.c",
              "native/tun.c",
              "native/udp.c",
              "native/udpio.c"
            ],
            "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
          },
          { "sources": ["native/stub.c"] }
        ]
      ]
    }
  ]
}
