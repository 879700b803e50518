//go:build !linux

package clustertest

import (
	"context"
	"errors"
	"net"
	"os/exec"
)

var errNoNetns = errors.New("network namespaces need Linux")

func dialIn(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	return nil, errNoNetns
}

func listenIn(nsPath, network, addr string) (net.Listener, error) { return nil, errNoNetns }

func listenPacketIn(nsPath, network, addr string) (net.PacketConn, error) {
	return nil, errNoNetns
}

// StartProcess is cmd.Start: a parent-death signal needs Linux.
func StartProcess(cmd *exec.Cmd) error { return cmd.Start() }

func procStart(pid int) string { return "" }

func procExe(pid int) (string, error) { return "", errNoNetns }

const netnsSupported = false
