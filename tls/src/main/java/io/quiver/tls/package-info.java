/**
 * Certificates and TLS/mTLS contexts for Flight and JGroups. Empty until the security issue:
 * nodes currently serve plaintext gRPC on the address they are given (loopback by default).
 */
package io.quiver.tls;
