//go:build !unix

package main

// lockStateDir does nothing where flock is not available: run one hub per
// state folder.
func lockStateDir(string) (func(), error) { return func() {}, nil }
