// SPDX-License-Identifier: MIT
/*
 * Link events for one interface: an rtnetlink socket subscribed to RTMGRP_LINK, watched on the
 * event loop (unref'd: it never keeps the process alive by itself). Each RTM_NEWLINK or
 * RTM_DELLINK for the watched ifindex becomes one JS call cb(kind, flags, mtu) with kind 0 =
 * changed, 1 = removed, 2 = messages were lost (ENOBUFS), so the caller re-reads the state.
 * RTM_DELLINK also comes when the interface moves to another namespace (it is removed from this
 * one); the caller tells the two apart through the TUN descriptor (tun.c tunLink). Also the
 * route watcher of the UDP bind: one call per drain after any address or route change.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wgcore.h"

static void link_event(io_handle *h, uint32_t kind, uint32_t flags, uint32_t mtu) {
  napi_value argv[3] = {make_u32(h->env, kind), make_u32(h->env, flags), make_u32(h->env, mtu)};
  io_call(h, 3, argv);
}

void io_drain_link(io_handle *h) {
  /* rtnetlink messages are small; 16 KiB holds many, and a round is bounded. */
  _Alignas(struct nlmsghdr) char buf[16384];
  int changed = 0;
  for (int round = 0; round < 64 && !h->closed; round++) {
    ssize_t r = recv(h->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        if (h->kind == IO_ROUTE) {
          changed = 1;
        } else {
          link_event(h, 2, 0, 0);
        }
        continue;
      }
      break; /* EAGAIN or an error we cannot act on */
    }
    if (h->kind == IO_ROUTE) {
      changed = 1; /* any address or route message: one call for the whole drain */
      continue;
    }
    int len = (int)r;
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len) && !h->closed;
         nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK) continue;
      if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg))) continue;
      struct ifinfomsg *ifi = NLMSG_DATA(nh);
      if (ifi->ifi_index != h->ifindex) continue;
      uint32_t mtu = 0;
      int alen = (int)IFLA_PAYLOAD(nh);
      for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
        if (a->rta_type == IFLA_MTU && RTA_PAYLOAD(a) >= sizeof mtu) {
          memcpy(&mtu, RTA_DATA(a), sizeof mtu);
        }
      }
      link_event(h, nh->nlmsg_type == RTM_DELLINK ? 1 : 0, ifi->ifi_flags, mtu);
    }
  }
  if (changed && !h->closed) io_call(h, 0, NULL);
}

/* routeWatch(cb) -> handle: cb() after any IPv4/IPv6 address or route change in this namespace
 * (RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE; rtnetlink(7)),
 * at most once per event-loop turn. Unref'd, like the link watcher. */
napi_value js_route_watch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], external;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || arg_func(env, argv[0], "callback")) return NULL;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    throw_errno(env, errno, "socket(AF_NETLINK)", "Cannot open an rtnetlink socket");
    return NULL;
  }
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "bind(AF_NETLINK)", "Cannot subscribe to route events");
    return NULL;
  }
  io_handle *h = io_new(env, IO_ROUTE, fd, &external);
  if (h == NULL) return NULL;
  if (io_watch(h, argv[0])) {
    io_close(h);
    return NULL;
  }
  return external;
}

/* linkWatch(ifindex, cb) -> handle */
napi_value js_link_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], external;
  uint32_t index;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || arg_u32(env, argv[0], "interface index", &index) ||
      arg_func(env, argv[1], "callback")) {
    return NULL;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    throw_errno(env, errno, "socket(AF_NETLINK)", "Cannot open an rtnetlink socket");
    return NULL;
  }
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "bind(AF_NETLINK)", "Cannot subscribe to link events");
    return NULL;
  }
  io_handle *h = io_new(env, IO_LINK, fd, &external);
  if (h == NULL) return NULL;
  h->ifindex = (int)index;
  if (io_watch(h, argv[1])) {
    io_close(h);
    return NULL;
  }
  return external;
}
