package proc

import "testing"

func TestParseCgroup2Mount(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo, dir, root string
	}{
		{"hybrid", `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`, "/sys/fs/cgroup/unified", "/"},
		{"unified", `25 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
`, "/sys/fs/cgroup", "/"},
		{"namespaced, escaped", `1 0 0:30 /user.slice /my\040cgroups rw master:1 - cgroup2 none rw
`, "/my cgroups", "/user.slice"},
	} {
		dir, root, err := parseCgroup2Mount([]byte(tc.mountinfo))
		if err != nil || dir != tc.dir || root != tc.root {
			t.Errorf("%s: parseCgroup2Mount = %q, %q, %v; want %q, %q", tc.name, dir, root, err, tc.dir, tc.root)
		}
	}
	if _, _, err := parseCgroup2Mount([]byte("41 31 0:38 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")); err == nil {
		t.Error("a cgroup v1 mount was taken for cgroup2")
	}
}
