//go:build windows || (darwin && (!cgo || kqueue))

package watcher

import "github.com/rjeczalik/notify"

// overflowEvents: notify reports no overflow here. On Windows it drops a
// ReadDirectoryChangesW completion of zero bytes (the buffer overflowed)
// without telling; on macOS without cgo it uses kqueue, which has no queue to
// overflow.
const overflowEvents notify.Event = 0
