package sftptest_test

import (
	"os"
	"runtime"
	"testing"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/nhs-esr/jobplan-hub/transport/internal/sftptest"
)

func connect(t *testing.T, srv *sftptest.Server) (*ssh.Client, *pkgsftp.Client) {
	t.Helper()
	conn, err := ssh.Dial("tcp", srv.Addr, &ssh.ClientConfig{
		User:            srv.User,
		Auth:            []ssh.AuthMethod{ssh.Password("pw")},
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey),
	})
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	c, err := pkgsftp.NewClient(conn)
	if err != nil {
		t.Fatalf("sftp session: %v", err)
	}
	return conn, c
}

// TestCloseStopsEverything checks that Close ends every goroutine the
// server started, for both backends, even with clients still connected.
func TestCloseStopsEverything(t *testing.T) {
	backends := map[string]string{"pkg/sftp": ""}
	for _, p := range sftptest.ServerBinaryPaths {
		if _, err := os.Stat(p); err == nil {
			backends["openssh"] = p
			break
		}
	}
	for name, bin := range backends {
		t.Run(name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			srv := sftptest.Start(t, sftptest.Options{Password: "pw", ServerBinary: bin})
			if err := os.WriteFile(srv.Path("hello.txt"), []byte("hi"), 0o644); err != nil {
				t.Fatal(err)
			}
			conn1, c1 := connect(t, srv)
			infos, err := c1.ReadDir(".")
			if err != nil || len(infos) != 1 || infos[0].Name() != "hello.txt" {
				t.Fatalf("ReadDir = %v, %v; want [hello.txt]", infos, err)
			}
			if srv.Listings() != 1 {
				t.Errorf("Listings() = %d, want 1", srv.Listings())
			}
			if n := srv.DropConnections(); n != 1 {
				t.Errorf("DropConnections() = %d, want 1", n)
			}
			if _, err := c1.ReadDir("."); err == nil {
				t.Error("ReadDir on a dropped connection succeeded")
			}
			conn2, c2 := connect(t, srv) // still accepting after a drop
			if _, err := c2.Getwd(); err != nil {
				t.Fatalf("Getwd on a new connection: %v", err)
			}
			if srv.Logins() != 2 {
				t.Errorf("Logins() = %d, want 2", srv.Logins())
			}

			srv.Close() // with conn2 still open
			c1.Close()
			conn1.Close()
			c2.Close()
			conn2.Close()
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before {
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<16)
					t.Fatalf("%d goroutines left running, want %d:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestRejectsBadCredentials(t *testing.T) {
	srv := sftptest.Start(t, sftptest.Options{Password: "right"})
	_, err := ssh.Dial("tcp", srv.Addr, &ssh.ClientConfig{
		User:            srv.User,
		Auth:            []ssh.AuthMethod{ssh.Password("wrong")},
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey),
	})
	if err == nil {
		t.Fatal("login with the wrong password succeeded")
	}
	if srv.Logins() != 0 {
		t.Errorf("Logins() = %d, want 0", srv.Logins())
	}
}
