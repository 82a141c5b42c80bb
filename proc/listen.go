package proc

import (
	"net/netip"
	"slices"
	"strings"
)

// Socket is a TCP socket in the LISTEN state.
type Socket struct {
	Addr  netip.AddrPort // local address; IPv4-mapped IPv6 addresses are unmapped
	Inode uint64         // names the socket while it lives (Linux)
}

// ListeningOn returns the sockets of Listening that a connection to one of
// addrs at port may reach: those bound to one of addrs, or to the wildcard
// address (0.0.0.0 for IPv4, :: for both).
func ListeningOn(socks []Socket, addrs []netip.Addr, port int) []Socket {
	var out []Socket
	for _, s := range socks {
		if int(s.Addr.Port()) != port {
			continue
		}
		for _, a := range addrs {
			if reaches(a.Unmap(), s.Addr.Addr().Unmap()) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// reaches reports whether a connection to target may land on a socket bound
// to bound.
func reaches(target, bound netip.Addr) bool {
	switch {
	case target == bound:
		return true
	case bound.IsUnspecified():
		// :: also takes IPv4 unless the socket is IPv6-only, which
		// /proc/net/tcp6 does not say: count it.
		return bound.Is6() || target.Is4()
	case target.IsUnspecified():
		// Connecting to 0.0.0.0 or :: reaches this host.
		return bound.IsLoopback() || bound.Is4() == target.Is4()
	}
	return false
}

// cmdLine turns /proc/PID/cmdline (NUL-separated arguments) into one line.
func cmdLine(b []byte) string {
	s := strings.TrimRight(string(b), "\x00")
	return strings.Join(strings.Split(s, "\x00"), " ")
}

// environHas reports whether a NUL-separated environment holds entry.
func environHas(env []byte, entry string) bool {
	for e := range strings.SplitSeq(string(env), "\x00") {
		if e == entry {
			return true
		}
	}
	return false
}

// sortedKeys returns a set's members in order.
func sortedKeys(set map[int]bool) []int {
	out := make([]int, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
