// Package live holds tests that reach the real upstream Go module proxy: the
// first entry of "go env GOPROXY", which also serves the checksum database
// named by "go env GOSUMDB". They run modvault in front of it and drive it
// with the real go command over real public modules and a real toolchain.
// The upstream's address is read at run time and never written down; the
// tests allow outbound connections only to its host(s) and to loopback, and
// they fail (never skip) when it cannot be reached. It has no non-test code.
package live
