package ui

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// TokenPath is the file that holds the page's token of the watching pets
// with pid, in state directory dir.
func TokenPath(dir string, pid int) string {
	return filepath.Join(dir, fmt.Sprintf("ui-%d.token", pid))
}

// ReadToken reads the page's token of the watching pets with pid.
func ReadToken(dir string, pid int) (string, error) {
	b, err := os.ReadFile(TokenPath(dir, pid))
	if err != nil {
		return "", fmt.Errorf("read the status page's token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// RemoveTokens removes the token files in dir of the pids not in keep (of
// watching pets that are gone: killed before they could remove them).
func RemoveTokens(dir string, keep map[int]bool) {
	paths, _ := filepath.Glob(filepath.Join(dir, "ui-*.token"))
	for _, p := range paths {
		pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "ui-"), ".token"))
		if err == nil && !keep[pid] && p == TokenPath(dir, pid) {
			_ = os.Remove(p)
		}
	}
}

// newToken is 32 random bytes, hex.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeToken writes token to path with mode 0600: it is written to a
// temporary file that os.CreateTemp makes 0600 (the umask can only narrow
// that), then renamed into place, so the file is never readable by others.
func writeToken(path, token string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ui-token-*")
	if err != nil {
		return fmt.Errorf("write the status page's token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("write the status page's token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the status page's token: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write the status page's token: %w", err)
	}
	return nil
}
