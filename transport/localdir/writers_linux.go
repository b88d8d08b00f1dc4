//go:build linux

package localdir

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writerWatch tells whether a file in one of a few folders may still be
// open for writing by another process, so that a file its writer has
// paused in (a database query streaming rows) is not taken half. It has
// two ways of knowing, tried in this order:
//
//   - The kernel's own count of a file's writers, read through a lease: a
//     read lease (fcntl F_SETLEASE) is granted only when no process has
//     the file open for writing, and is let go at once. The kernel allows
//     it only on files the hub's user owns, or with CAP_LEASE; it answers
//     for every writer on this machine, whenever it opened the file and
//     whoever runs it, and readers do not count.
//   - inotify events on the folders (alongside fsnotify, which does not
//     pass on opens and closes): a file written to (IN_MODIFY) is being
//     written until a writer closes it (IN_CLOSE_WRITE), and a file just
//     created and opened (IN_CREATE, IN_OPEN) is held until its first
//     close of any kind. inotify merges identical events that have not
//     been read yet, so opens cannot be counted: with several writers of
//     one file, the first one's close lets it go.
//
// What neither can see it does not claim to know (Writing returns ""),
// and the settle time alone decides: a file opened before the hub
// watched and not written since, when the hub may not lease it; a file
// written from another machine on a network share (the local kernel sees
// neither the writes nor the opens); a writer paused when the event queue
// overflowed (IN_Q_OVERFLOW), until it writes again.
//
// Files already there when the watch begins are judged by the lease, or
// else by the settle time: scanning /proc/*/fd instead would see only the
// hub user's own processes (all of them only as root), none in other
// containers, at the cost of walking every process's descriptors.
//
// A writer's close (IN_CLOSE_WRITE) is reported through recheck, so a
// file held back is looked at again then, with no polling: idle, the
// watch costs one goroutine blocked in a read. An overflow or the end of
// a folder's watch reports recheck(dir, "").
type writerWatch struct {
	file    *os.File // the inotify instance, non-blocking: Close ends a read
	recheck func(dir, name string)
	log     *slog.Logger
	done    chan struct{} // closed when the reader has exited

	mu      sync.Mutex
	folders map[int32]*folder // by watch descriptor
	byPath  map[string]*folder
	// leases says leases are tried at all (tests of the events alone
	// turn them off); canLease, that the hub may lease any file
	// (CAP_LEASE): without it, only the files its user owns.
	leases, canLease bool
	euid             uint32
}

// folder is one watched folder.
type folder struct {
	path string
	// files are the files held by their events; the others are dropped.
	files map[string]*writes
	// created are the latest files created here (IN_CREATE), whose open
	// (IN_OPEN, which follows at once when a writer creates a file) makes
	// them held; a file linked in is never opened, and is forgotten as
	// newer ones come.
	created [16]string
	next    int
	// noLeases is set once the file system refused a lease as such
	// (EINVAL): leases are not tried in this folder again.
	noLeases bool
	gone     bool // its watch ended (IN_IGNORED): nothing is known of it
}

// writes is what the events told of one file.
type writes struct {
	// created: created and opened while watched, and not closed since.
	created bool
	// written: written to, and not closed by a writer since.
	written bool
}

// writerEvents are the inotify events the watch needs.
const writerEvents = unix.IN_OPEN | unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_CLOSE_NOWRITE |
	unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK

// newWriterWatch watches drop and the hub's own folders, and calls
// recheck, from its own goroutine, when a writer closes a file there;
// leases says whether to ask leases first. If inotify cannot be had (the
// per-user limit of instances, say), the watch answers from leases alone
// and says why in the log.
func newWriterWatch(drop string, own []string, leases bool, log *slog.Logger, recheck func(dir, name string)) *writerWatch {
	w := &writerWatch{
		leases:  leases,
		recheck: recheck,
		log:     log,
		done:    make(chan struct{}),
		folders: make(map[int32]*folder),
		byPath:  make(map[string]*folder),
		euid:    uint32(os.Geteuid()),
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	w.canLease = unix.Capget(&hdr, &caps[0]) == nil && caps[0].Effective&(1<<unix.CAP_LEASE) != 0

	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		log.Warn("cannot follow writers' opens and closes; a file still open for writing is held back only where the hub may lease it",
			"err", fmt.Errorf("inotify: %w", err))
		close(w.done)
		return w
	}
	// Non-blocking, so the runtime's poller waits for events and Close
	// ends a read in progress.
	w.file = os.NewFile(uintptr(fd), "inotify")
	for _, dir := range append([]string{drop}, own...) {
		f := &folder{path: dir, files: make(map[string]*writes)}
		w.byPath[dir] = f
		wd, err := unix.InotifyAddWatch(fd, dir, writerEvents)
		if err != nil {
			f.gone = true
			log.Warn("cannot follow writers in a folder", "folder", dir, "err", fmt.Errorf("inotify: %w", err))
			continue
		}
		w.folders[int32(wd)] = f
	}
	go w.read()
	return w
}

// Close stops the watch and waits for its goroutine to exit.
func (w *writerWatch) Close() error {
	if w == nil || w.file == nil {
		return nil
	}
	err := w.file.Close()
	<-w.done
	return err
}

// read is the watch's goroutine: it reads events until Close.
func (w *writerWatch) read() {
	defer close(w.done)
	var buf [unix.SizeofInotifyEvent * 1024]byte
	for {
		n, err := w.file.Read(buf[:])
		if errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			// Nothing else is expected of an inotify descriptor; what was
			// in flight is lost, as in an overflow.
			w.log.Warn("reading writers' events", "err", err)
			w.handle(-1, unix.IN_Q_OVERFLOW, "")
			continue
		}
		parseEvents(buf[:n], w.handle)
	}
}

// parseEvents calls handle for each whole inotify event in buf: its watch
// descriptor, mask and name (without the NUL padding). An event cut off
// at the end is dropped.
func parseEvents(buf []byte, handle func(wd int32, mask uint32, name string)) {
	for off := 0; off+unix.SizeofInotifyEvent <= len(buf); {
		var ev unix.InotifyEvent
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&ev)), unix.SizeofInotifyEvent), buf[off:])
		end := off + unix.SizeofInotifyEvent + int(ev.Len)
		if ev.Len > uint32(len(buf)) || end > len(buf) {
			return
		}
		name := buf[off+unix.SizeofInotifyEvent : end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		handle(ev.Wd, ev.Mask, string(name))
		off = end
	}
}

// handle takes one event into account and calls recheck if a file may
// have been let go.
func (w *writerWatch) handle(wd int32, mask uint32, name string) {
	type check struct{ dir, name string }
	var checks []check
	w.mu.Lock()
	switch f := w.folders[wd]; {
	case mask&unix.IN_Q_OVERFLOW != 0:
		w.log.Warn("writers' event queue overflowed: a writer paused now is held back only where the hub may lease its file, or once it writes again")
		for _, f := range w.folders {
			f.files, f.created = make(map[string]*writes), [16]string{}
			checks = append(checks, check{f.path, ""})
		}
	case f == nil:
	case mask&unix.IN_IGNORED != 0:
		// The folder was removed or unmounted.
		f.gone, f.files = true, nil
		delete(w.folders, wd)
		checks = append(checks, check{f.path, ""})
	case mask&unix.IN_ISDIR != 0 || name == "":
	case mask&(unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_MOVED_TO) != 0:
		// Gone; or renamed in, which its writer does once it is complete
		// (should a descriptor opened before still write, that shows).
		delete(f.files, name)
	case mask&unix.IN_CREATE != 0:
		delete(f.files, name)
		f.created[f.next] = name
		f.next = (f.next + 1) % len(f.created)
	case mask&unix.IN_CLOSE_WRITE != 0:
		// A writer is done (the last one, a lease may tell).
		delete(f.files, name)
		checks = append(checks, check{f.path, name})
	default:
		st := f.files[name]
		switch {
		case st == nil && mask&unix.IN_OPEN != 0 && f.justCreated(name):
			f.files[name] = &writes{created: true}
		case st == nil && mask&unix.IN_MODIFY == 0:
			// Opened or closed, with nothing known of it: a reader, or
			// a writer that says so by writing.
		case st == nil:
			f.files[name] = &writes{written: true}
		case mask&unix.IN_OPEN != 0:
			st.created = st.created || f.justCreated(name)
		case mask&unix.IN_MODIFY != 0:
			st.written = true
		case mask&unix.IN_CLOSE_NOWRITE != 0:
			st.created = false
			if !st.written {
				delete(f.files, name)
			}
		}
	}
	w.mu.Unlock()
	for _, c := range checks {
		w.recheck(c.dir, c.name)
	}
}

// justCreated reports whether the file called name was created here
// lately and not opened since, and forgets it.
func (f *folder) justCreated(name string) bool {
	for i, c := range f.created {
		if c == name {
			f.created[i] = ""
			return true
		}
	}
	return false
}

// Writing returns why the file called name in dir (one of the watched
// folders) may still be open for writing by another process, or "" if
// nothing says so.
func (w *writerWatch) Writing(dir, name string) string {
	if w == nil {
		return ""
	}
	path := filepath.Join(dir, name)
	switch w.lease(dir, path) {
	case noWriter:
		return ""
	case writer:
		return "still open for writing by another process; taken once its writer closes it"
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.byPath[dir]
	if f == nil || f.gone {
		return ""
	}
	switch st := f.files[name]; {
	case st == nil:
		return ""
	case st.written:
		return "being written: written to, and not yet closed by its writer; taken once it is closed"
	case st.created:
		return "just created, and not yet closed by its writer; taken once it is closed"
	}
	return ""
}

// leaseAnswer is what a lease tells of a file's writers.
type leaseAnswer int

const (
	leaseUnknown leaseAnswer = iota
	noWriter
	writer
)

// lease asks the kernel whether any process holds the file at path open
// for writing, by taking a read lease on it and letting it go at once.
// It is tried only where it can be granted: on files the hub's user owns,
// or with CAP_LEASE (else it would only cost an open and a close).
func (w *writerWatch) lease(dir, path string) leaseAnswer {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return leaseUnknown
	}
	if !w.leases || (!w.canLease && st.Uid != w.euid) {
		return leaseUnknown
	}
	w.mu.Lock()
	f := w.byPath[dir]
	skip := f != nil && f.noLeases
	w.mu.Unlock()
	if skip {
		return leaseUnknown
	}
	// O_NONBLOCK: a file another holds a write lease on (a file server
	// whose client has it open) fails at once instead of waiting for the
	// lease to be broken.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return writer
	}
	if err != nil {
		return leaseUnknown
	}
	defer unix.Close(fd)
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK)
	switch {
	case err == nil:
		// Let go at once: a writer opening the file meanwhile waits
		// until then.
		unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
		return noWriter
	case errors.Is(err, unix.EAGAIN):
		return writer
	case errors.Is(err, unix.EINVAL):
		// Leases are not for this file system (or are turned off:
		// /proc/sys/fs/leases-enable).
		w.mu.Lock()
		if f != nil {
			f.noLeases = true
		}
		w.mu.Unlock()
	}
	return leaseUnknown
}
