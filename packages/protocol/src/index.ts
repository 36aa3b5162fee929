// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/protocol: the control plane's wire contract. Public API.
 * @module
 */

export {};
