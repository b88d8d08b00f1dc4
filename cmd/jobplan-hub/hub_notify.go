package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/nhs-esr/jobplan-hub/transport/relay"
)

// systemdNotifier tells systemd how the hub is, by the sd_notify protocol
// (a datagram to $NOTIFY_SOCKET, which systemd sets for Type=notify
// units): READY=1 once the ledger is open and the sources watch, RELOADING=1
// while a reload reads the configuration (then READY=1 again), STOPPING=1
// once a signal stops the hub. Without $NOTIFY_SOCKET it does nothing.
type systemdNotifier struct{ log *slog.Logger }

func (n systemdNotifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("could not tell systemd the hub's state", "state", state, "err", err)
	}
}

// state is relay.Supervisor.Notify.
func (n systemdNotifier) state(st relay.State) {
	switch st {
	case relay.Ready:
		n.send(daemon.SdNotifyReady + "\nSTATUS=running")
	case relay.Reloading:
		// MONOTONIC_USEC is what Type=notify-reload (systemd 253) wants
		// beside RELOADING=1; Type=notify ignores it.
		msg := daemon.SdNotifyReloading
		if us, ok := monotonicMicros(); ok {
			msg += fmt.Sprintf("\nMONOTONIC_USEC=%d", us)
		}
		n.send(msg + "\nSTATUS=reloading the configuration")
	}
}

// stoppingWhenDone sends STOPPING=1 once ctx ends. The returned func
// waits for that if it has begun, or cancels it.
func (n systemdNotifier) stoppingWhenDone(ctx context.Context) (wait func()) {
	sent := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(sent)
		n.send(daemon.SdNotifyStopping + "\nSTATUS=stopping: finishing the files in flight")
	})
	return func() {
		if !stop() {
			<-sent
		}
	}
}
