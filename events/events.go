// Package events is pets' one schema of what happened: every state change
// of a service, every round the engine planned and carried out, every
// Petsfile reload, every problem of the file watcher is an Event. The
// terminal lines, `pets events` (JSON lines), `pets list` and the status
// page are views of these events; the state and freshness names below are
// the only ones pets uses.
//
// Events are plain values with a version field (V); a consumer must ignore
// fields it does not know. Which fields each Type carries is documented at
// the Type's constant. The JSON form is one object per line; Durations are
// milliseconds (tookMs), times RFC 3339 with nanoseconds.
package events

import "time"

// Version is the schema version every Event carries in V. It changes only
// when a field changes meaning or is removed; new fields and new types do
// not change it.
const Version = 1

// Type says what happened.
type Type string

// The event types, and the fields each one sets beyond V, Time, Type and
// Source.
const (
	// ServiceStarting: a service's provider is about to run. Service, State
	// (starting), Reason (why: "requested", "a/main.go changed", "api-local
	// restarted", "added to the Petsfile", "restarted by pets restart"),
	// Round (0 outside a watch round).
	ServiceStarting Type = "service.starting"
	// ServiceReady: it answers (its readiness check passed). Service, State
	// (ready), TookMs (from starting to ready), Host ("" for a service
	// without an address), PID, Round.
	ServiceReady Type = "service.ready"
	// ServiceFailed: it did not become ready. Service, State (failed),
	// Error (with the tail of its log), TookMs, Round.
	ServiceFailed Type = "service.failed"
	// ServiceCrashed: it was ready and its process is gone. Service, State
	// (crashed), Exit (how it ended: "exit status 1", "signal: killed", or
	// "" where pets cannot know, e.g. it was started by another pets),
	// Reason (what happens next: it restarts by itself, or on the next
	// change to its files).
	ServiceCrashed Type = "service.crashed"
	// ServiceStopped: pets stopped it and it is gone. Service, State
	// (stopped), Reason ("pets down", "removed from the Petsfile",
	// "rollback", "Ctrl-C"; a watching pets that finds it stopped by
	// another pets: "stopped outside this pets ..."), Round (0 outside a
	// watch round).
	ServiceStopped Type = "service.stopped"
	// ServiceBackoff: it crashed and restarts by itself (its restart
	// policy is on-failure), after a delay that doubles at each crash in a
	// row. Service, State (backoff), Exit, DelayMs (how long until the
	// restart), Reason.
	ServiceBackoff Type = "service.backoff"
	// ServiceBuilding: its build step runs, while the previous instance (if
	// any) keeps serving. Service, State (building), Round, Reason.
	ServiceBuilding Type = "service.building"
	// BuildFailed: its build step failed; the previous instance (if any)
	// still runs. Service, Error (with the end of the build's output),
	// TookMs, Round.
	BuildFailed Type = "build.failed"
	// ServiceReused: pets up found it ready and fresh and left it alone
	// (or a watching pets found it running again after another pets
	// stopped it, and says so in its reason). Service, State (ready),
	// Host, PID.
	ServiceReused Type = "service.reused"
	// ServiceStale: what runs is no longer what is on disk: files of its
	// watch set (or its configuration) changed and pets has not restarted
	// or synced it since. Service, Freshness (stale), Files (the first
	// ones; MoreFiles counts the rest).
	ServiceStale Type = "service.stale"
	// ServiceFresh: it runs what is on disk again. Service, Freshness
	// (fresh).
	ServiceFresh Type = "service.fresh"

	// SyncDone: changed files were synced into a service's pods. Service,
	// Sync, TookMs, Round. Reason says why ("synced at deploy", "a new
	// pod", "a/x.css changed").
	SyncDone Type = "sync.done"
	// SyncFailed: a sync did not complete. Service, Error, Round.
	SyncFailed Type = "sync.failed"

	// RoundPlanned: the engine decided what to do about a batch of changes,
	// a reload or a request. Round, Files (MoreFiles), Steps (without
	// results), Reason (what started it: "files changed", "reload",
	// "pets restart", "changed while no pets was watching").
	RoundPlanned Type = "round.planned"
	// RoundFinished: the round is over. Round, Files (MoreFiles), Steps
	// (with results and timings), TookMs, Reason (as planned).
	RoundFinished Type = "round.finished"
	// RoundInterrupted: pets is stopping (Ctrl-C) while a round runs: the
	// step in progress may finish, the rest is skipped. Round, GraceMs (how
	// long the step in progress may still take), Reason.
	RoundInterrupted Type = "round.interrupted"

	// ReloadApplied: the Petsfile (or a file it loads) changed and
	// evaluated. Files (the changed Petsfiles), Reload, TookMs (from the
	// edit being seen to the reload's round finishing), Round (0 if it
	// restarted nothing).
	ReloadApplied Type = "reload.applied"
	// ReloadRefused: the Petsfile changed but does not evaluate; the
	// previous configuration keeps running. Files, Error (file:line:col
	// and what to do).
	ReloadRefused Type = "reload.refused"

	// WatchStarted: a watching pets attached. Services, Roots, PID.
	WatchStarted Type = "watch.started"
	// WatchStopped: it ended. PID, Reason.
	WatchStopped Type = "watch.stopped"
	// WatchOverflow: the watcher lost events (the kernel queue overflowed):
	// every watched service restarts. No other fields.
	WatchOverflow Type = "watch.overflow"
	// WatchError: the watcher has a problem. Error; Limit is true when it
	// ran out of inotify watches (pets then stops watching).
	WatchError Type = "watch.error"
)

// Types lists every type, in the order of the documentation.
var Types = []Type{
	ServiceStarting, ServiceReady, ServiceFailed, ServiceCrashed, ServiceStopped, ServiceBackoff, ServiceBuilding, BuildFailed, ServiceReused,
	ServiceStale, ServiceFresh, SyncDone, SyncFailed, RoundPlanned, RoundFinished, RoundInterrupted,
	ReloadApplied, ReloadRefused, WatchStarted, WatchStopped, WatchOverflow, WatchError,
}

// State is where a service is in its life. These are the only state names
// pets shows (pets list, pets events, the terminal).
type State string

const (
	Building State = "building" // its build step runs (the previous instance, if any, still serves)
	Starting State = "starting" // its provider runs; not ready yet
	Ready    State = "ready"    // its readiness check passed; its processes run
	Failed   State = "failed"   // it did not become ready (the error says why)
	Crashed  State = "crashed"  // it was ready, and its processes are gone
	Backoff  State = "backoff"  // it crashed and restarts by itself after a delay
	Stopped  State = "stopped"  // pets stopped it (only in events: a stopped service is no longer listed)
)

// Freshness says whether what runs is what is on disk.
type Freshness string

const (
	// Fresh: it was started or synced from the files of its watch set and
	// the configuration now on disk.
	Fresh Freshness = "fresh"
	// Stale: something changed since (Files says what).
	Stale Freshness = "stale"
	// Unknown: pets cannot tell (a record written by an older pets, or a
	// service that is not running).
	Unknown Freshness = "unknown"
)

// Event is one thing that happened.
type Event struct {
	V    int       `json:"v"`
	Time time.Time `json:"time"`
	Type Type      `json:"type"`
	// Source is the pets command that wrote it and its pid: "up 4242",
	// "watch 4243", "down 4250", "restart 4251".
	Source string `json:"source,omitempty"`

	Service   string    `json:"service,omitempty"` // "name-tier"
	State     State     `json:"state,omitempty"`
	Freshness Freshness `json:"freshness,omitempty"`
	Round     int       `json:"round,omitempty"` // the round it belongs to, numbered per watching pets
	Reason    string    `json:"reason,omitempty"`
	Error     string    `json:"error,omitempty"`
	Exit      string    `json:"exit,omitempty"`
	TookMs    float64   `json:"tookMs,omitempty"`
	GraceMs   float64   `json:"graceMs,omitempty"` // round.interrupted: how long the step in progress may still take
	DelayMs   float64   `json:"delayMs,omitempty"` // service.backoff: how long until the restart
	Host      string    `json:"host,omitempty"`    // "hostname:port"
	PID       int       `json:"pid,omitempty"`
	Limit     bool      `json:"limit,omitempty"`

	Files     []string `json:"files,omitempty"`     // absolute paths, at most MaxFiles
	MoreFiles int      `json:"moreFiles,omitempty"` // how many more were not listed

	Steps    []Step      `json:"steps,omitempty"`
	Sync     *SyncInfo   `json:"sync,omitempty"`
	Reload   *ReloadInfo `json:"reload,omitempty"`
	Services []string    `json:"services,omitempty"`
	Roots    []string    `json:"roots,omitempty"`
}

// MaxFiles bounds Event.Files: a 2,000-file checkout lists the first
// MaxFiles and counts the rest in MoreFiles.
const MaxFiles = 50

// StepKind is what a step of a round does to one service.
type StepKind string

const (
	StepStart   StepKind = "start"   // start a service that is not running (new, or down)
	StepRestart StepKind = "restart" // stop it and start it again: its files, configuration or a request
	StepSync    StepKind = "sync"    // copy changed files into its pods instead of restarting
	StepBounce  StepKind = "bounce"  // restart it because a service it depends on restarted
	StepStop    StepKind = "stop"    // stop it (removed from the Petsfile, pets down)
)

// Result is how a step ended.
type Result string

const (
	ResultOK          Result = "ok"
	ResultFailed      Result = "failed"
	ResultSkipped     Result = "skipped"     // not run: a step it needs failed (Reason says which)
	ResultInterrupted Result = "interrupted" // not run, or cut short: pets was stopped
)

// Step is one step of a round: in RoundPlanned without Result, in
// RoundFinished with it.
type Step struct {
	Kind    StepKind `json:"kind"`
	Service string   `json:"service"`
	Reason  string   `json:"reason"`
	// After lists the services whose steps must finish first.
	After []string `json:"after,omitempty"`

	Result Result  `json:"result,omitempty"`
	TookMs float64 `json:"tookMs,omitempty"`
	Error  string  `json:"error,omitempty"`
	// Skipped says why a skipped step did not run ("api-local failed").
	Skipped string `json:"skipped,omitempty"`
	// Fallback says why a sync became a restart ("sync failed: ...").
	Fallback string `json:"fallback,omitempty"`
	// BuildFailed says the step failed in its build: what ran before still
	// runs.
	BuildFailed bool      `json:"buildFailed,omitempty"`
	Sync        *SyncInfo `json:"sync,omitempty"`
}

// SyncInfo is what a sync did.
type SyncInfo struct {
	Files   int      `json:"files"`         // files copied
	Deleted int      `json:"deleted"`       // files deleted
	Pods    []string `json:"pods"`          // namespace/name of each pod written to
	Ran     []string `json:"ran,omitempty"` // commands run in the containers ("restart": the process was restarted)
}

// ReloadInfo is what a reload changed, by service ("name-tier").
type ReloadInfo struct {
	Added     []string `json:"added,omitempty"`
	Removed   []string `json:"removed,omitempty"`
	Changed   []string `json:"changed,omitempty"`
	Unchanged []string `json:"unchanged,omitempty"`
}

// SetFiles sets e.Files to paths, at most MaxFiles of them, counting the rest
// in MoreFiles.
func (e *Event) SetFiles(paths []string) {
	if len(paths) > MaxFiles {
		e.Files, e.MoreFiles = append([]string(nil), paths[:MaxFiles]...), len(paths)-MaxFiles
		return
	}
	e.Files, e.MoreFiles = paths, 0
}

// Sink receives events. Emit must not block for long: it is called on the
// engine's goroutines.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

func (f SinkFunc) Emit(e Event) { f(e) }

// Tee sends each event to every sink, in order.
type Tee []Sink

func (t Tee) Emit(e Event) {
	for _, s := range t {
		if s != nil {
			s.Emit(e)
		}
	}
}
