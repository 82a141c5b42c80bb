package state

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// LockService takes the lock of one service (by name: one tier of a name
// runs at a time), held while a service is started, restarted or stopped,
// so that two pets (a round of a watching pets and a pets up in another
// terminal, say) never do it at once, while different services go side by
// side. The returned func releases it.
func (d *Dir) LockService(ctx context.Context, name string) (func(), error) {
	dir := filepath.Join(d.Path, "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	path := filepath.Join(dir, name+".lock")
	if unlock, err := tryLockFile(path); err == nil {
		return unlock, nil
	}
	return lockFile(ctx, path)
}
