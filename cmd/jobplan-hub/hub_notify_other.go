//go:build !linux

package main

// monotonicMicros: systemd runs on Linux only.
func monotonicMicros() (int64, bool) { return 0, false }
