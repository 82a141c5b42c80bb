package proc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Listening returns the TCP sockets that listen right now. It asks the
// kernel over netlink (sock_diag, as ss(8) does), which looks at listening
// sockets only; /proc/net/tcp, the fallback, walks every connection's hash
// bucket and takes milliseconds even when there are none.
func Listening() ([]Socket, error) {
	socks, err := listeningDiag()
	if err == nil {
		return socks, nil
	}
	return listeningProcNet()
}

// listeningProcNet reads /proc/net/tcp and /proc/net/tcp6.
func listeningProcNet() ([]Socket, error) {
	var out []Socket
	read := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		socks, err := listeningIn(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue // no IPv6
		}
		if err != nil {
			return nil, fmt.Errorf("proc: listening sockets: %w", err)
		}
		read++
		out = append(out, socks...)
	}
	if read == 0 {
		return nil, fmt.Errorf("proc: listening sockets: no /proc/net/tcp")
	}
	return out, nil
}

// listeningDiag asks NETLINK_INET_DIAG for the TCP sockets in the LISTEN
// state, IPv4 then IPv6.
func listeningDiag() ([]Socket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("proc: sock_diag: %w", err)
	}
	defer unix.Close(fd)
	var out []Socket
	for i, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := diagDump(fd, family, uint32(i+1))
		if err != nil {
			if family == unix.AF_INET6 && errors.Is(err, unix.ENOENT) {
				break // no IPv6
			}
			return nil, fmt.Errorf("proc: sock_diag: %w", err)
		}
		out = append(out, socks...)
	}
	return out, nil
}

const (
	tcpListen        = 10 // TCP_LISTEN
	diagReqLen       = unix.SizeofNlMsghdr + 56
	diagMsgLen       = 72 // struct inet_diag_msg
	diagMsgSportOff  = 4  // id.idiag_sport, big-endian
	diagMsgSrcOff    = 8  // id.idiag_src, 16 bytes
	diagMsgInodeOff  = 68 // idiag_inode
	diagMsgFamilyOff = 0
)

// diagDump sends one inet_diag_req_v2 for family's listening TCP sockets
// and reads the answers.
func diagDump(fd int, family uint8, seq uint32) ([]Socket, error) {
	req := make([]byte, diagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], diagReqLen)               // nlmsg_len
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY) // nlmsg_type
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], seq)
	r := req[unix.SizeofNlMsghdr:] // struct inet_diag_req_v2
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 1<<tcpListen) // idiag_states
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	var out []Socket
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(ne.Uint32(m.Data)); errno != 0 {
						return nil, syscall.Errno(-errno)
					}
				}
				return out, nil
			}
			d := m.Data
			if len(d) < diagMsgLen {
				continue
			}
			var addr netip.Addr
			switch d[diagMsgFamilyOff] {
			case unix.AF_INET:
				addr = netip.AddrFrom4([4]byte(d[diagMsgSrcOff : diagMsgSrcOff+4]))
			case unix.AF_INET6:
				addr = netip.AddrFrom16([16]byte(d[diagMsgSrcOff : diagMsgSrcOff+16])).Unmap()
			default:
				continue
			}
			port := binary.BigEndian.Uint16(d[diagMsgSportOff:])
			out = append(out, Socket{Addr: netip.AddrPortFrom(addr, port), Inode: uint64(ne.Uint32(d[diagMsgInodeOff:]))})
		}
	}
}

func listeningIn(path string) ([]Socket, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Socket
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		if s, ok := parseSocketLine(sc.Text()); ok {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

// parseSocketLine parses a LISTEN line of /proc/net/tcp{,6}:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//	0: 0100007F:1F90 00000000:0000 0A ...
//
// The address is printed as 32-bit words in host byte order; the port in hex.
func parseSocketLine(line string) (Socket, bool) {
	f := strings.Fields(line)
	if len(f) < 10 || f[3] != "0A" { // TCP_LISTEN
		return Socket{}, false
	}
	hexIP, hexPort, ok := strings.Cut(f[1], ":")
	if !ok {
		return Socket{}, false
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return Socket{}, false
	}
	ip := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return Socket{}, false
	}
	inode, err := strconv.ParseUint(f[9], 10, 64)
	if err != nil {
		return Socket{}, false
	}
	addr, _ := netip.AddrFromSlice(ip)
	return Socket{Addr: netip.AddrPortFrom(addr.Unmap(), uint16(port)), Inode: inode}, true
}

// Holders returns, for each socket of socks that some process holds open,
// those processes, looking only at pids (nil: every process). Processes pets
// may not inspect (another user's) are not seen.
func Holders(socks []Socket, pids []int) (map[uint64][]int, error) {
	out := map[uint64][]int{}
	if len(socks) == 0 {
		return out, nil
	}
	if pids == nil {
		var err error
		if pids, err = allPIDs(); err != nil {
			return nil, err
		}
	}
	for _, pid := range pids {
		held, err := Sockets(pid)
		if err != nil {
			continue // gone, or not ours to see
		}
		for _, s := range socks {
			if held[s.Inode] && !slices.Contains(out[s.Inode], pid) {
				out[s.Inode] = append(out[s.Inode], pid)
			}
		}
	}
	return out, nil
}

// Sockets returns the inodes of the sockets pid has open.
func Sockets(pid int) (map[uint64]bool, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for _, n := range names {
		link, err := os.Readlink(dir + n)
		if err != nil || !strings.HasPrefix(link, "socket:[") || !strings.HasSuffix(link, "]") {
			continue
		}
		if ino, err := strconv.ParseUint(link[len("socket:["):len(link)-1], 10, 64); err == nil {
			out[ino] = true
		}
	}
	return out, nil
}

// Tree returns the live processes whose environment holds entry
// ("NAME=value"), those in one of the process groups groups, and every
// descendant of these, in pid order. The environment is what a process was
// started with: a marker variable follows every descendant that does not
// clear its environment, even one that left its group; the groups and the
// parent links catch those that clear it.
func Tree(entry string, groups []int) ([]int, error) {
	pids, err := allPIDs()
	if err != nil {
		return nil, err
	}
	inGroups := map[int]bool{}
	for _, g := range groups {
		inGroups[g] = true
	}
	children := map[int][]int{}
	members := map[int]bool{}
	for _, pid := range pids {
		st, err := readStat(pid)
		if err != nil || st.state == "Z" || st.state == "X" {
			continue
		}
		children[st.ppid] = append(children[st.ppid], pid)
		if inGroups[st.pgrp] {
			members[pid] = true
			continue
		}
		if entry != "" {
			if env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ"); err == nil && environHas(env, entry) {
				members[pid] = true
			}
		}
	}
	queue := sortedKeys(members)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			if !members[c] {
				members[c] = true
				queue = append(queue, c)
			}
		}
	}
	return sortedKeys(members), nil
}

// CmdLine returns pid's command line, its arguments joined by spaces, or ""
// where it cannot be read.
func CmdLine(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	return cmdLine(b)
}

// Environ returns the environment pid was started with.
func Environ(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

// Group returns the process group of pid.
func Group(pid int) (int, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.pgrp, nil
}

type stat struct {
	state      string
	ppid, pgrp int
	start      uint64 // field 22, as startTime reads it (0: not there)
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 {
		return stat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil {
		return stat{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	st := stat{state: string(f[0]), ppid: ppid, pgrp: pgrp}
	if len(f) >= 20 {
		st.start, _ = strconv.ParseUint(string(f[19]), 10, 64)
	}
	return st, nil
}

func allPIDs() ([]int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}
