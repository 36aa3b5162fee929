// SPDX-License-Identifier: MIT
/*
 * The Linux TUN device: opens /dev/net/tun non-blocking and attaches it to a named layer-3
 * interface (IFF_TUN | IFF_NO_PI, so every read and write is one bare IP packet), and the
 * interface ioctls the device needs: MTU get/set and the administrative up flag. The ioctls go
 * through a throwaway AF_INET datagram socket, by interface name, in the caller's namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wgcore.h"

static int arg_ifname(napi_env env, napi_value v, char name[IFNAMSIZ]) {
  char buf[64];
  if (arg_string(env, v, "interface name", buf, sizeof buf)) return -1;
  size_t len = strlen(buf);
  if (len == 0 || len >= IFNAMSIZ) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "Invalid interface name: expected 1 to 15 bytes");
    return -1;
  }
  memset(name, 0, IFNAMSIZ);
  memcpy(name, buf, len);
  return 0;
}

static void throw_if(napi_env env, int err, const char *syscall, const char *what,
                     const char *name) {
  char ctx[128];
  snprintf(ctx, sizeof ctx, "Cannot %s interface '%s'", what, name);
  throw_errno(env, err, syscall, ctx);
}

/* Runs one SIOC* ioctl on `ifr` (name already filled in); returns 0 or an errno. */
static int if_ioctl(unsigned long req, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int rc = ioctl(s, req, ifr) < 0 ? errno : 0;
  close(s);
  return rc;
}

/* tunOpen(name) -> [handle, actualName, ifindex] */
napi_value js_tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[IFNAMSIZ];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || arg_ifname(env, argv[0], name)) return NULL;
  char ctx[128];
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(ctx, sizeof ctx, "Cannot open /dev/net/tun for '%s'", name);
    throw_errno(env, errno, "open", ctx);
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    snprintf(ctx, sizeof ctx, "Cannot create TUN interface '%s'", name);
    throw_errno(env, err, "ioctl(TUNSETIFF)", ctx);
    return NULL;
  }
  char actual[IFNAMSIZ + 1];
  memcpy(actual, ifr.ifr_name, IFNAMSIZ);
  actual[IFNAMSIZ] = 0;
  unsigned index = if_nametoindex(actual);
  if (index == 0) {
    int err = errno;
    close(fd);
    snprintf(ctx, sizeof ctx, "Cannot find the index of interface '%s'", actual);
    throw_errno(env, err, "if_nametoindex", ctx);
    return NULL;
  }
  napi_value external, result, s;
  if (io_new(env, IO_TUN, fd, &external) == NULL) return NULL;
  napi_create_array_with_length(env, 3, &result);
  napi_set_element(env, result, 0, external);
  napi_create_string_utf8(env, actual, NAPI_AUTO_LENGTH, &s);
  napi_set_element(env, result, 1, s);
  napi_set_element(env, result, 2, make_u32(env, index));
  return result;
}

/* ifGetMtu(name) -> mtu */
napi_value js_if_get_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct ifreq ifr;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  memset(&ifr, 0, sizeof ifr);
  if (argc < 1 || arg_ifname(env, argv[0], ifr.ifr_name)) return NULL;
  int err = if_ioctl(SIOCGIFMTU, &ifr);
  if (err) {
    throw_if(env, err, "ioctl(SIOCGIFMTU)", "read the MTU of", ifr.ifr_name);
    return NULL;
  }
  return make_u32(env, (uint32_t)ifr.ifr_mtu);
}

/* ifSetMtu(name, mtu) */
napi_value js_if_set_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  struct ifreq ifr;
  uint32_t mtu;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  memset(&ifr, 0, sizeof ifr);
  if (argc < 2 || arg_ifname(env, argv[0], ifr.ifr_name) || arg_u32(env, argv[1], "MTU", &mtu)) {
    return NULL;
  }
  if (mtu > 65535) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "Invalid MTU: above 65535");
    return NULL;
  }
  ifr.ifr_mtu = (int)mtu;
  int err = if_ioctl(SIOCSIFMTU, &ifr);
  if (err) {
    throw_if(env, err, "ioctl(SIOCSIFMTU)", "set the MTU of", ifr.ifr_name);
    return NULL;
  }
  return undefined(env);
}

/* ifGetFlags(name) -> IFF_* flags */
napi_value js_if_get_flags(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct ifreq ifr;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  memset(&ifr, 0, sizeof ifr);
  if (argc < 1 || arg_ifname(env, argv[0], ifr.ifr_name)) return NULL;
  int err = if_ioctl(SIOCGIFFLAGS, &ifr);
  if (err) {
    throw_if(env, err, "ioctl(SIOCGIFFLAGS)", "read the flags of", ifr.ifr_name);
    return NULL;
  }
  return make_u32(env, (uint16_t)ifr.ifr_flags);
}

/* ifSetUp(name, up) */
napi_value js_if_set_up(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  struct ifreq ifr;
  int up;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  memset(&ifr, 0, sizeof ifr);
  if (argc < 2 || arg_ifname(env, argv[0], ifr.ifr_name) || arg_bool(env, argv[1], "up", &up)) {
    return NULL;
  }
  int err = if_ioctl(SIOCGIFFLAGS, &ifr);
  if (err == 0) {
    if (up) {
      ifr.ifr_flags |= IFF_UP;
    } else {
      ifr.ifr_flags &= ~IFF_UP;
    }
    err = if_ioctl(SIOCSIFFLAGS, &ifr);
  }
  if (err) {
    throw_if(env, err, "ioctl(SIOCSIFFLAGS)", up ? "bring up" : "bring down", ifr.ifr_name);
    return NULL;
  }
  return undefined(env);
}
