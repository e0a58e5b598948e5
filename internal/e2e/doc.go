// Package e2e holds end-to-end tests: the real go command against modvault
// in front of a fake upstream proxy and checksum database (package
// proxytest). It has no non-test code.
package e2e
