//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the lock that keeps two hubs off one state folder: they
// would both take files from work/ and deliver the same queue.
const lockFileName = "hub.lock"

// lockStateDir takes an exclusive lock on the state folder for as long as
// the process lives (the kernel drops it on exit, also after kill -9). The
// returned func releases it.
func lockStateDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another hub is running on state folder %s", dir)
		}
		return nil, fmt.Errorf("lock state folder %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
