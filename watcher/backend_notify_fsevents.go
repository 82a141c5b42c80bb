//go:build darwin && cgo && !kqueue

package watcher

import "github.com/rjeczalik/notify"

// overflowEvents are the FSEvents flags that say events were dropped or
// coalesced into "rescan this tree".
const overflowEvents = notify.FSEventsMustScanSubDirs | notify.FSEventsUserDropped | notify.FSEventsKernelDropped
