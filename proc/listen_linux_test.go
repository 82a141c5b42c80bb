package proc

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// listening returns the sockets of Listening on port.
func listening(t *testing.T, port int) []Socket {
	t.Helper()
	all, err := Listening()
	if err != nil {
		t.Fatal(err)
	}
	var out []Socket
	for _, s := range all {
		if int(s.Addr.Port()) == port {
			out = append(out, s)
		}
	}
	return out
}

func TestListeningAndHolders(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			host := map[string]string{"tcp4": "127.0.0.1", "tcp6": "::1"}[network]
			ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
			if err != nil {
				t.Skipf("no %s on loopback: %v", network, err)
			}
			defer ln.Close()
			port := ln.Addr().(*net.TCPAddr).Port
			// A connection on the port is not a listener.
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			socks := listening(t, port)
			want := netip.AddrPortFrom(netip.MustParseAddr(host), uint16(port))
			if len(socks) != 1 || socks[0].Addr != want || socks[0].Inode == 0 {
				t.Fatalf("Listening on port %d = %+v; want one socket at %s with an inode", port, socks, want)
			}
			// Both ways of asking agree.
			for name, list := range map[string]func() ([]Socket, error){"sock_diag": listeningDiag, "/proc/net/tcp": listeningProcNet} {
				all, err := list()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !slices.Contains(all, socks[0]) {
					t.Errorf("%s does not list %+v", name, socks[0])
				}
			}
			for _, pids := range [][]int{nil, {os.Getpid()}} {
				held, err := Holders(socks, pids)
				if err != nil {
					t.Fatal(err)
				}
				if got := held[socks[0].Inode]; !slices.Equal(got, []int{os.Getpid()}) {
					t.Errorf("Holders(among %v) = %v; want this process, %d", pids, got, os.Getpid())
				}
			}
			// Looking among other processes finds nobody.
			held, err := Holders(socks, []int{os.Getppid()})
			if err != nil || len(held) != 0 {
				t.Errorf("Holders among the parent = %v, %v; want none", held, err)
			}
			ln.Close()
			if socks := listening(t, port); len(socks) != 0 {
				t.Errorf("a closed listener is still listed: %+v", socks)
			}
		})
	}
}

func TestParseSocketLine(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the lines below are as a little-endian kernel prints them")
	}
	for _, tc := range []struct {
		line string
		want Socket
		ok   bool
	}{
		{"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0",
			Socket{netip.MustParseAddrPort("127.0.0.1:8080"), 4242}, true},
		{"   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0000000000000000 100 0 0 10 0",
			Socket{netip.MustParseAddrPort("0.0.0.0:80"), 7}, true},
		{"   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 99 1 0000000000000000 100 0 0 10 0",
			Socket{netip.MustParseAddrPort("[::1]:8080"), 99}, true},
		// An IPv4-mapped address is unmapped.
		{"   0: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5 1 0000000000000000 100 0 0 10 0",
			Socket{netip.MustParseAddrPort("127.0.0.1:8080"), 5}, true},
		// An established connection is not a listener.
		{"   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 8 1 0000000000000000 20 4 30 10 -1", Socket{}, false},
	} {
		got, ok := parseSocketLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseSocketLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestListeningOn(t *testing.T) {
	sock := func(s string) Socket { return Socket{Addr: netip.MustParseAddrPort(s)} }
	socks := []Socket{sock("127.0.0.1:80"), sock("0.0.0.0:81"), sock("[::]:82"), sock("[::1]:83"), sock("192.0.2.1:84"), sock("127.0.0.1:85")}
	ips := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, x := range s {
			out = append(out, netip.MustParseAddr(x))
		}
		return out
	}
	for _, tc := range []struct {
		addrs []netip.Addr
		port  int
		want  bool
	}{
		{ips("127.0.0.1"), 80, true},
		{ips("::ffff:127.0.0.1"), 80, true},
		{ips("::1"), 80, false},
		{ips("127.0.0.1"), 81, true},  // 0.0.0.0
		{ips("::1"), 81, false},       // 0.0.0.0 takes no IPv6
		{ips("127.0.0.1"), 82, true},  // :: takes IPv4 too
		{ips("::1"), 82, true},        // ::
		{ips("127.0.0.1"), 83, false}, // ::1 only
		{ips("127.0.0.1", "::1"), 83, true},
		{ips("127.0.0.1"), 84, false},
		{ips("0.0.0.0"), 85, true}, // connecting to 0.0.0.0 reaches loopback
		{ips("127.0.0.1"), 86, false},
	} {
		got := ListeningOn(socks, tc.addrs, tc.port)
		if (len(got) == 1) != tc.want || len(got) > 1 {
			t.Errorf("ListeningOn(%v, %d) = %v; want a socket: %v", tc.addrs, tc.port, got, tc.want)
		}
	}
}

// TestTreeFollowsEnvGroupsAndDescendants starts a process with a marker in
// its environment whose descendants leave its group, clear their
// environment, or both, and checks which way Tree finds each.
func TestTreeFollowsEnvGroupsAndDescendants(t *testing.T) {
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// child: same group, marker. cleared: same group, no marker, a child
	// of the leader. escaped: own session (group), marker, a child of the
	// leader. orphan: own session, marker, its parent gone. grouped: same
	// group, no marker, its parent gone.
	line := `sleep 1000 & echo child $!
env -i sleep 1000 & echo cleared $!
setsid sleep 1000 & echo escaped $!
(setsid sleep 1000 & echo orphan $!)
(env -i sleep 1000 & echo grouped $!)
echo end
wait`
	p, err := Start(Spec{Line: line, Dir: dir, Env: []string{"PETS_TREE_TEST=" + strconv.Itoa(os.Getpid())}, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	t.Cleanup(func() {
		_ = signalGroup(p.PID, syscall.SIGKILL)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		<-p.Done()
	})
	waitFor(t, func() bool {
		b, _ := os.ReadFile(out.Name())
		return strings.Contains(string(b), "end\n")
	})
	b, _ := os.ReadFile(out.Name())
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if name, pid, ok := strings.Cut(l, " "); ok {
			pids[name], _ = strconv.Atoi(pid)
		}
	}
	if len(pids) != 5 {
		t.Fatalf("want 5 pids, got %q", b)
	}
	for _, pid := range pids {
		// Exec'd: setsid and env -i have done their part.
		waitFor(t, func() bool { return CmdLine(pid) == "sleep 1000" })
	}
	other := startT(t, "exec sleep 1000", nil) // no marker, another group

	byEnv, err := Tree("PETS_TREE_TEST="+strconv.Itoa(os.Getpid()), nil)
	if err != nil {
		t.Fatal(err)
	}
	byGroup, err := Tree("", []int{p.PID})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		pid              int
		inByEnv, inGroup bool
	}{
		{"leader", p.PID, true, true},
		{"child", pids["child"], true, true},
		{"cleared", pids["cleared"], true, true},  // a descendant of the leader
		{"escaped", pids["escaped"], true, true},  // marker; a descendant of the leader
		{"orphan", pids["orphan"], true, false},   // only its marker says
		{"grouped", pids["grouped"], false, true}, // only its group says
		{"other", other.PID, false, false},
	} {
		if got := slices.Contains(byEnv, tc.pid); got != tc.inByEnv {
			t.Errorf("%s (pid %d) in the tree by marker: %v; want %v", tc.name, tc.pid, got, tc.inByEnv)
		}
		if got := slices.Contains(byGroup, tc.pid); got != tc.inGroup {
			t.Errorf("%s (pid %d) in the tree by group: %v; want %v", tc.name, tc.pid, got, tc.inGroup)
		}
	}
	if g, err := Group(pids["child"]); err != nil || g != p.PID {
		t.Errorf("Group(child) = %d, %v; want the leader's group %d", g, err, p.PID)
	}
	if g, err := Group(pids["escaped"]); err != nil || g != pids["escaped"] {
		t.Errorf("Group(escaped) = %d, %v; want its own group", g, err)
	}
	if got, want := CmdLine(pids["child"]), "sleep 1000"; got != want {
		t.Errorf("CmdLine(child) = %q; want %q", got, want)
	}
	env, err := Environ(pids["orphan"])
	if err != nil || !slices.Contains(env, "PETS_TREE_TEST="+strconv.Itoa(os.Getpid())) {
		t.Errorf("Environ(orphan) = %v, %v; want the marker", env, err)
	}
}
