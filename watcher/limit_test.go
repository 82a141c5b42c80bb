package watcher

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestLimitErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *LimitError
		want []string
	}{
		{"default limit", &LimitError{Needed: 12345, Limit: 8192, Err: syscall.ENOSPC}, []string{
			"fs.inotify.max_user_watches is 8192", "12345 here",
			"sudo sysctl fs.inotify.max_user_watches=524288", "/etc/sysctl.d/", ".petsignore",
		}},
		{"needs more than the usual advice", &LimitError{Needed: 600000, Limit: 524288, Err: syscall.ENOSPC}, []string{
			"600000 here", "sudo sysctl fs.inotify.max_user_watches=2097152",
		}},
		{"user namespace", &LimitError{Needed: 50, Limit: 192536, NSLimit: 20, Err: syscall.ENOSPC}, []string{
			"fs.inotify.max_user_watches is 192536", "user.max_inotify_watches lowers it to 20",
			"raise user.max_inotify_watches to 524288",
		}},
		{"unreadable limit", &LimitError{Needed: 7}, []string{"fs.inotify.max_user_watches is unknown"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			if !strings.HasPrefix(msg, "watch directories: ") {
				t.Errorf("message does not start with the operation: %s", msg)
			}
		})
	}
	if err := error(&LimitError{Err: syscall.ENOSPC}); !errors.Is(err, syscall.ENOSPC) {
		t.Error("LimitError does not unwrap to ENOSPC")
	}
}
