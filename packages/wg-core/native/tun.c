// SPDX-License-Identifier: MIT
/*
 * The Linux TUN device: opens /dev/net/tun non-blocking and attaches it to a named layer-3
 * interface (IFF_TUN | IFF_NO_PI, so every read and write is one bare IP packet), and the
 * interface ioctls the device needs: MTU get/set and the administrative up flag.
 *
 * An interface may be renamed, or moved to another network namespace while this process and its
 * UDP sockets stay in the one it was created in (https://www.wireguard.com/netns/). So the
 * tun* calls start from the TUN descriptor, never from a remembered name: TUNGETIFF gives the
 * current name (and fails with EBADFD once the interface is destroyed), TUNGETDEVNETNS (Linux
 * 5.2) the namespace it lives in, and the SIOC* ioctls go through a throwaway socket made in
 * that namespace by a short-lived thread that joins it with setns(2); the calling thread never
 * changes namespace, and nothing is kept open there (an open socket would keep a deleted
 * namespace, and with it the interface, alive). The if* calls by name are the older interface.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TUNGETDEVNETNS
#define TUNGETDEVNETNS _IO('T', 227)
#endif

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

/* Offloads the stack may use when it sends to us: checksums left partial, TCP segmentation
 * (TUNSETOFFLOAD, drivers/net/tun.c set_offload). 0 or an errno. */
static int tun_offload(int fd) {
  unsigned flags = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  return ioctl(fd, TUNSETOFFLOAD, flags) < 0 ? errno : 0;
}

/* The offload state of a handle: bit 0 virtio headers, bit 1 TSO/checksum offload on. */
static uint32_t offload_bits(const io_handle *h, int tso) { return (h->vnet ? 1u : 0) | (tso ? 2u : 0); }

/* tunOpen(name, offload) -> [handle, actualName, ifindex, offloadBits]: with `offload`, the
 * device exchanges virtio-net headers (IFF_VNET_HDR) and TSO super-packets (offload.c). */
napi_value js_tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char name[IFNAMSIZ];
  int want = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || arg_ifname(env, argv[0], name)) return NULL;
  if (argc >= 2 && arg_bool(env, argv[1], "offload", &want)) return NULL;
  char ctx[128];
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(ctx, sizeof ctx, "Cannot open /dev/net/tun for '%s'", name);
    throw_errno(env, errno, "open", ctx);
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (want ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  int rc = ioctl(fd, TUNSETIFF, &ifr);
  if (rc < 0 && want) {
    /* a kernel or device without virtio headers: the portable path */
    want = 0;
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, IFNAMSIZ);
    rc = ioctl(fd, TUNSETIFF, &ifr);
  }
  if (rc < 0) {
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
  io_handle *h = io_new(env, IO_TUN, fd, &external);
  if (h == NULL) return NULL;
  int tso = 0;
  if (want) {
    if (tun_vnet_enable(h)) {
      io_close(h);
      throw_errno(env, ENOMEM, "malloc", "Cannot allocate TUN offload buffers");
      return NULL;
    }
    tso = tun_offload(fd) == 0;
  }
  napi_create_array_with_length(env, 4, &result);
  napi_set_element(env, result, 0, external);
  napi_create_string_utf8(env, actual, NAPI_AUTO_LENGTH, &s);
  napi_set_element(env, result, 1, s);
  napi_set_element(env, result, 2, make_u32(env, index));
  napi_set_element(env, result, 3, make_u32(env, offload_bits(h, tso)));
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

/* The current name of the interface behind a TUN descriptor: 0 or an errno (EBADFD when the
 * interface was destroyed, EINVAL or ENOTTY when the descriptor is not a TUN). */
static int tun_name(int fd, char name[IFNAMSIZ], short *flags) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return errno;
  memcpy(name, ifr.ifr_name, IFNAMSIZ);
  name[IFNAMSIZ - 1] = 0;
  if (flags != NULL) *flags = ifr.ifr_flags;
  return 0;
}

typedef struct {
  int nsfd;
  int fd;
  int err;
} ns_job;

static void *ns_socket_thread(void *arg) {
  ns_job *j = arg;
  /* setns(2) moves this thread only; it ends right after making the socket. */
  if (setns(j->nsfd, CLONE_NEWNET) < 0) {
    j->err = errno;
    return NULL;
  }
  j->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (j->fd < 0) j->err = errno;
  return NULL;
}

static int plain_socket(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  return s < 0 ? -errno : s;
}

/* A datagram socket in the namespace the interface of `tunfd` is in now, or -errno; *home is 1
 * when that is the namespace of this thread. */
static int dev_socket(int tunfd, int *home) {
  *home = 1;
  int nsfd = ioctl(tunfd, TUNGETDEVNETNS);
  if (nsfd < 0) {
    /* Before Linux 5.2 there is no way to ask: the interface is taken to be here. */
    if (errno == ENOTTY || errno == EINVAL) return plain_socket();
    return -errno;
  }
  struct stat theirs, ours;
  if (fstat(nsfd, &theirs) == 0 && stat("/proc/thread-self/ns/net", &ours) == 0 &&
      theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev) {
    close(nsfd);
    return plain_socket();
  }
  *home = 0;
  ns_job j = {nsfd, -1, 0};
  pthread_t t;
  int rc = pthread_create(&t, NULL, ns_socket_thread, &j);
  if (rc == 0) pthread_join(t, NULL);
  close(nsfd);
  if (rc != 0) return -rc;
  return j.fd >= 0 ? j.fd : -j.err;
}

/* Runs `req` on the interface of `tunfd`, wherever it is; fills ifr (name included). */
static int tun_ioctl(int tunfd, unsigned long req, struct ifreq *ifr, int *home) {
  int h = 1;
  int err = tun_name(tunfd, ifr->ifr_name, NULL);
  if (err) return err;
  int s = dev_socket(tunfd, &h);
  if (home != NULL) *home = h;
  if (s < 0) return -s;
  err = ioctl(s, req, ifr) < 0 ? errno : 0;
  close(s);
  return err;
}

static io_handle *tun_arg(napi_env env, napi_value v, const char *syscall) {
  io_handle *h;
  if (arg_handle(env, v, &h)) return NULL;
  if (h->kind != IO_TUN || h->fd < 0) {
    throw_errno(env, EBADF, syscall, "Cannot use the TUN device: it is closed");
    return NULL;
  }
  return h;
}

/* tunAdopt(fd) -> [handle, name, ifindex]: a TUN descriptor opened by someone else (a supervisor
 * passing WG_TUN_FD, as wireguard-go's main.go accepts), switched to non-blocking. */
napi_value js_tun_adopt(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || arg_u32(env, argv[0], "descriptor", &fd)) return NULL;
  char name[IFNAMSIZ], ctx[128];
  short flags = 0;
  int err = tun_name((int)fd, name, &flags);
  if (err) {
    snprintf(ctx, sizeof ctx, "Cannot use descriptor %u as a TUN device", fd);
    throw_errno(env, err, "ioctl(TUNGETIFF)", ctx);
    return NULL;
  }
  if ((flags & (IFF_TUN | IFF_TAP | IFF_NO_PI)) != (IFF_TUN | IFF_NO_PI)) {
    snprintf(ctx, sizeof ctx, "Cannot use descriptor %u: '%s' is not IFF_TUN with IFF_NO_PI", fd,
             name);
    throw_errno(env, EINVAL, "ioctl(TUNGETIFF)", ctx);
    return NULL;
  }
  int fl = fcntl((int)fd, F_GETFL);
  if (fl < 0 || fcntl((int)fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
      fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0) {
    snprintf(ctx, sizeof ctx, "Cannot make descriptor %u non-blocking", fd);
    throw_errno(env, errno, "fcntl", ctx);
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  err = tun_ioctl((int)fd, SIOCGIFINDEX, &ifr, NULL);
  if (err) {
    throw_if(env, err, "ioctl(SIOCGIFINDEX)", "find the index of", name);
    return NULL;
  }
  napi_value external, result, s;
  io_handle *h = io_new(env, IO_TUN, (int)fd, &external);
  if (h == NULL) return NULL;
  int tso = 0;
  if (flags & IFF_VNET_HDR) {
    /* made with virtio headers (as wireguard-go makes it): every packet carries one */
    if (tun_vnet_enable(h)) {
      io_close(h);
      throw_errno(env, ENOMEM, "malloc", "Cannot allocate TUN offload buffers");
      return NULL;
    }
    tso = tun_offload((int)fd) == 0;
  }
  napi_create_array_with_length(env, 4, &result);
  napi_set_element(env, result, 0, external);
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &s);
  napi_set_element(env, result, 1, s);
  napi_set_element(env, result, 2, make_u32(env, (uint32_t)ifr.ifr_ifindex));
  napi_set_element(env, result, 3, make_u32(env, offload_bits(h, tso)));
  return result;
}

/* tunLink(handle) -> [name, ifindex, mtu, flags, home]: the interface as it is now, in whatever
 * namespace it is. Throws with code EBADFD once it was destroyed. */
napi_value js_tun_link(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, s;
  io_handle *h;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || (h = tun_arg(env, argv[0], "ioctl(TUNGETIFF)")) == NULL) return NULL;
  char name[IFNAMSIZ];
  int err = tun_name(h->fd, name, NULL);
  if (err) {
    throw_errno(env, err, "ioctl(TUNGETIFF)", "Cannot find the TUN interface");
    return NULL;
  }
  int home = 1;
  int sock = dev_socket(h->fd, &home);
  if (sock < 0) {
    throw_if(env, -sock, "socket", "reach the namespace of", name);
    return NULL;
  }
  struct ifreq ifr;
  int32_t index = 0, mtu = 0;
  uint32_t flags = 0;
  static const unsigned long reqs[] = {SIOCGIFINDEX, SIOCGIFMTU, SIOCGIFFLAGS};
  for (size_t i = 0; i < 3 && err == 0; i++) {
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name, IFNAMSIZ);
    if (ioctl(sock, reqs[i], &ifr) < 0) {
      err = errno;
    } else if (i == 0) {
      index = ifr.ifr_ifindex;
    } else if (i == 1) {
      mtu = ifr.ifr_mtu;
    } else {
      flags = (uint16_t)ifr.ifr_flags;
    }
  }
  close(sock);
  if (err) {
    throw_if(env, err, "ioctl", "read the state of", name);
    return NULL;
  }
  napi_create_array_with_length(env, 5, &result);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &s);
  napi_set_element(env, result, 0, s);
  napi_set_element(env, result, 1, make_i32(env, index));
  napi_set_element(env, result, 2, make_i32(env, mtu));
  napi_set_element(env, result, 3, make_u32(env, flags));
  napi_value b;
  napi_get_boolean(env, home != 0, &b);
  napi_set_element(env, result, 4, b);
  return result;
}

/* tunSetMtu(handle, mtu): SIOCSIFMTU on the interface of the descriptor, wherever it is. */
napi_value js_tun_set_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  io_handle *h;
  uint32_t mtu;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || (h = tun_arg(env, argv[0], "ioctl(SIOCSIFMTU)")) == NULL ||
      arg_u32(env, argv[1], "MTU", &mtu)) {
    return NULL;
  }
  if (mtu > 65535) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "Invalid MTU: above 65535");
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_mtu = (int)mtu;
  int err = tun_ioctl(h->fd, SIOCSIFMTU, &ifr, NULL);
  if (err) {
    throw_if(env, err, "ioctl(SIOCSIFMTU)", "set the MTU of", ifr.ifr_name);
    return NULL;
  }
  return undefined(env);
}

/* tunSetUp(handle, up): IFF_UP on the interface of the descriptor, wherever it is. */
napi_value js_tun_set_up(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  io_handle *h;
  int up;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || (h = tun_arg(env, argv[0], "ioctl(SIOCSIFFLAGS)")) == NULL ||
      arg_bool(env, argv[1], "up", &up)) {
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  int err = tun_ioctl(h->fd, SIOCGIFFLAGS, &ifr, NULL);
  if (err == 0) {
    if (up) {
      ifr.ifr_flags |= IFF_UP;
    } else {
      ifr.ifr_flags &= ~IFF_UP;
    }
    err = tun_ioctl(h->fd, SIOCSIFFLAGS, &ifr, NULL);
  }
  if (err) {
    throw_if(env, err, "ioctl(SIOCSIFFLAGS)", up ? "bring up" : "bring down", ifr.ifr_name);
    return NULL;
  }
  return undefined(env);
}

/* tunOffload(handle, gro) -> [offloadBits, superPacketsSplit, segmentsMerged]: GRO on writes
 * on or off (virtio-header devices only), and the counters. */
napi_value js_tun_offload(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  io_handle *h;
  int gro;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || arg_handle(env, argv[0], &h) || arg_bool(env, argv[1], "gro", &gro)) return NULL;
  if (h->kind != IO_TUN) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "Invalid handle: not a TUN device");
    return NULL;
  }
  h->gro_off = !gro;
  napi_create_array_with_length(env, 3, &result);
  napi_set_element(env, result, 0, make_u32(env, h->vnet ? 1 : 0));
  napi_set_element(env, result, 1, make_u32(env, h->tso_split));
  napi_set_element(env, result, 2, make_u32(env, h->gro_merged));
  return result;
}
