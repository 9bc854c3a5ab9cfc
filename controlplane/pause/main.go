// Command pause holds a pod sandbox's namespaces open: it does nothing until
// it is asked to stop. It runs as PID 1 of the sandbox, so processes orphaned
// inside the pod are re-parented to it and it must reap them, or they stay
// zombies.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// A PID 1 without a handler ignores SIGTERM and SIGINT; these handlers make
	// them end the sandbox cleanly.
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s == syscall.SIGCHLD {
			reapChildren()
			continue
		}
		os.Exit(0)
	}
}

// reapChildren collects every child that has exited; signals coalesce, so one
// SIGCHLD may stand for several of them.
func reapChildren() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
