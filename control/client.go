package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
)

// ErrNoWatcher means nothing listens on the socket (no such file, or the
// connection was refused: its pets has gone): the caller can fall back to
// doing the work itself. The error Do returns wraps the dial error too.
var ErrNoWatcher = errors.New("control: no watching pets")

// RemoteError is a request's failure as the server reported it.
type RemoteError struct {
	Msg string
}

func (e *RemoteError) Error() string { return e.Msg }

// Do sends req to the server at path and calls fn (may be nil) with every
// reply but the final one, in order. It returns nil when the server
// reported success, a *RemoteError with the server's message when it
// reported a failure, an error wrapping ErrNoWatcher when nothing listens,
// fn's error if fn fails (the connection is then closed, which cancels the
// server's handler), and ctx's error if ctx ends first.
func Do(ctx context.Context, path string, req Request, fn func(Reply) error) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if noListener(err) {
			return fmt.Errorf("%w: %w", ErrNoWatcher, err)
		}
		return fmt.Errorf("connect to the watching pets: %w", err)
	}
	c := nc.(*net.UnixConn)
	defer c.Close()
	if uid, own, ok, err := peerUID(c); err != nil {
		return fmt.Errorf("connect to the watching pets: %w", err)
	} else if ok && uid != own {
		return fmt.Errorf("connect to the watching pets: refused: %s belongs to uid %d, not to our uid %d", path, uid, own)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(aLongTimeAgo) })
	defer stop()

	dec := json.NewDecoder(c)
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A server that refuses us replies and hangs up without reading:
		// its reason is more use than "broken pipe".
		var r Reply
		if dec.Decode(&r) == nil && r.Done && r.Error != "" {
			return &RemoteError{Msg: r.Error}
		}
		return fmt.Errorf("send request: %w", err)
	}
	for {
		var r Reply
		if err := dec.Decode(&r); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("read reply: the watching pets hung up before it finished: %w", io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("read reply: %w", err)
		}
		if r.Done {
			if r.Error != "" {
				return &RemoteError{Msg: r.Error}
			}
			return nil
		}
		if fn != nil {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
}
