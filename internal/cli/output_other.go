//go:build !linux

package cli

// outputFiles returns the regular files this process's output goes to:
// none where pets cannot tell a descriptor's path.
func outputFiles() []string { return nil }
