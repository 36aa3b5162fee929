// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/nat: the desired forwarding state as one nftables table of our own.
 * @module
 */
export {};
