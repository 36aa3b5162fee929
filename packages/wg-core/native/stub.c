// SPDX-License-Identifier: MIT
/*
 * Stand-in for the wg-core native addon on systems other than Linux: exports nothing but its
 * ABI number of 0, so the package still installs there and src/native.ts reports that the TUN
 * and UDP devices are Linux-only.
 */
#define NAPI_VERSION 8
#include <node_api.h>

NAPI_MODULE_INIT() {
  napi_value abi;
  napi_create_uint32(env, 0, &abi);
  napi_set_named_property(env, exports, "ABI", abi);
  return exports;
}
