// SPDX-License-Identifier: MIT
/**
 * @start-tunnel/server: the start-tunnel process. Public API.
 * @module
 */

export {};
