package bench

import (
	"bufio"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// serfRPC is a minimal client of the serf agent's msgpack RPC protocol
// (the one `serf members -rpc-addr` speaks): a handshake, then one request
// at a time. It exists so the harness can poll dozens of serf agents
// without starting a `serf members` process per poll, and without pulling
// serf's client package (and its extra dependencies) into the module.
type serfRPC struct {
	conn    net.Conn
	w       *bufio.Writer
	enc     *codec.Encoder
	dec     *codec.Decoder
	seq     uint64
	timeout time.Duration
}

type serfRequestHeader struct {
	Command string
	Seq     uint64
}

type serfResponseHeader struct {
	Seq   uint64
	Error string
}

type serfMember struct {
	Name   string
	Addr   []byte
	Port   uint16
	Tags   map[string]string
	Status string
}

type serfMembersResponse struct {
	Members []serfMember
}

type serfMembersFiltered struct {
	Tags   map[string]string
	Status string
	Name   string
}

func dialSerf(addr string, timeout time.Duration) (*serfRPC, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	h := &codec.MsgpackHandle{WriteExt: true}
	c := &serfRPC{conn: conn, w: bufio.NewWriter(conn), timeout: timeout}
	c.enc = codec.NewEncoder(c.w, h)
	c.dec = codec.NewDecoder(bufio.NewReader(conn), h)
	if err := c.call("handshake", struct{ Version int32 }{1}, nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("serf rpc handshake: %w", err)
	}
	return c, nil
}

// call sends one request and reads its response into resp (nil: header only).
func (c *serfRPC) call(cmd string, req, resp any) error {
	c.seq++
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	if err := c.enc.Encode(serfRequestHeader{Command: cmd, Seq: c.seq}); err != nil {
		return err
	}
	if req != nil {
		if err := c.enc.Encode(req); err != nil {
			return err
		}
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	var h serfResponseHeader
	if err := c.dec.Decode(&h); err != nil {
		return err
	}
	if h.Seq != c.seq {
		return fmt.Errorf("serf rpc: response seq %d, want %d", h.Seq, c.seq)
	}
	if h.Error != "" {
		return fmt.Errorf("serf rpc %s: %s", cmd, h.Error)
	}
	if resp != nil {
		return c.dec.Decode(resp)
	}
	return nil
}

// members returns the members the agent knows, with status alive when
// aliveOnly is set.
func (c *serfRPC) members(aliveOnly bool) ([]serfMember, error) {
	var resp serfMembersResponse
	var err error
	if aliveOnly {
		err = c.call("members-filtered", serfMembersFiltered{Status: "alive"}, &resp)
	} else {
		err = c.call("members", nil, &resp)
	}
	return resp.Members, err
}

func (c *serfRPC) close() { _ = c.conn.Close() }
