package ui

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/windmilleng/pets/events"
)

// Service is one service as the page shows it.
type Service struct {
	Name      string           `json:"name"` // "name-tier"
	Tier      string           `json:"tier"`
	Deps      []string         `json:"deps,omitempty"` // the services it depends on ("name-tier"), in deps order
	State     events.State     `json:"state,omitempty"`
	Freshness events.Freshness `json:"freshness,omitempty"`
	Files     []string         `json:"files,omitempty"` // stale: what changed (the first events.MaxFiles)
	MoreFiles int              `json:"moreFiles,omitempty"`
	// Reason says why it is in its state: why it starts, why it is down,
	// why it is stale without files.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"` // its last failure, with the tail of its log
	Exit   string `json:"exit,omitempty"`  // how its process ended, when it crashed
	Host   string `json:"host,omitempty"`  // "hostname:port"
	PID    int    `json:"pid,omitempty"`
	// ReadyMs is how long its last start took to be ready (service.ready's
	// tookMs), at ReadyAt.
	ReadyMs float64   `json:"readyMs,omitempty"`
	ReadyAt time.Time `json:"readyAt,omitzero"`
	DelayMs float64   `json:"delayMs,omitempty"` // backoff: how long until it restarts
	Since   time.Time `json:"since,omitzero"`    // when its state last changed
}

// Round is one round of the watching pets: planned, then finished.
type Round struct {
	N         int           `json:"n"`
	Reason    string        `json:"reason,omitempty"`
	Files     []string      `json:"files,omitempty"`
	MoreFiles int           `json:"moreFiles,omitempty"`
	Steps     []events.Step `json:"steps,omitempty"`
	TookMs    float64       `json:"tookMs,omitempty"`
	Planned   time.Time     `json:"planned,omitzero"`
	Finished  time.Time     `json:"finished,omitzero"`
	// Interrupted: pets is stopping; the step in progress may finish.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Reload is the last Petsfile reload: applied, or refused with the error
// (file:line:col).
type Reload struct {
	OK     bool               `json:"ok"`
	Time   time.Time          `json:"time"`
	Files  []string           `json:"files,omitempty"`
	Error  string             `json:"error,omitempty"`
	Reload *events.ReloadInfo `json:"reload,omitempty"`
	TookMs float64            `json:"tookMs,omitempty"`
	Round  int                `json:"round,omitempty"`
}

// Watch is the watching pets itself.
type Watch struct {
	PID      int       `json:"pid,omitempty"`
	Roots    []string  `json:"roots,omitempty"`
	Services []string  `json:"services,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Stopped  string    `json:"stopped,omitempty"` // why it stopped (watch.stopped)
	Problem  string    `json:"problem,omitempty"` // the watcher's last problem (watch.error, watch.overflow)
}

// maxRounds is how many rounds the page keeps.
const maxRounds = 20

// model is what the events said, for the page. Its methods are called
// under Server.mu.
type model struct {
	order    []string // service names, dependency order
	services map[string]*Service
	before   map[string]events.State // the state before a build began
	// stateAt and freshAt are the times of the last event that set a
	// service's state, and its freshness: a Status asked for before them
	// is older than they are.
	stateAt map[string]time.Time
	freshAt map[string]time.Time
	rounds  []*Round // oldest first, at most maxRounds
	reload  *Reload
	watch   Watch
}

func newModel(initial []Service) *model {
	m := &model{services: map[string]*Service{}, before: map[string]events.State{}, stateAt: map[string]time.Time{}, freshAt: map[string]time.Time{}}
	for _, s := range initial {
		s := s
		m.services[s.Name] = &s
		m.order = append(m.order, s.Name)
	}
	return m
}

// service returns the named service, adding it (after the others) when it
// is new.
func (m *model) service(name string) *Service {
	if s, ok := m.services[name]; ok {
		return s
	}
	s := &Service{Name: name, Tier: tierOf(name)}
	m.services[name] = s
	m.order = append(m.order, name)
	return s
}

// tierOf is what follows the last dash of a display name.
func tierOf(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		return name[i+1:]
	}
	return ""
}

// update is what one event changed, as the page gets it.
type update struct {
	Type events.Type `json:"type"`
	// T is the event's time in milliseconds since the epoch: the page
	// measures how long the event took to reach it.
	T       float64  `json:"t"`
	Service *Service `json:"service,omitempty"`
	Round   *Round   `json:"round,omitempty"`
	Reload  *Reload  `json:"reload,omitempty"`
	Watch   *Watch   `json:"watch,omitempty"`
}

// apply notes e and returns the update for the pages.
func (m *model) apply(e events.Event) update {
	u := update{Type: e.Type, T: float64(e.Time.UnixNano()) / 1e6}
	if e.Service != "" {
		s := m.service(e.Service)
		if m.applyService(s, e) {
			m.stateAt[s.Name], s.Since = e.Time, e.Time
		}
		u.Service = s
	}
	switch e.Type {
	case events.RoundPlanned, events.RoundFinished, events.RoundInterrupted:
		r := m.round(e.Round)
		if r == nil {
			r = &Round{N: e.Round}
			m.rounds = append(m.rounds, r)
			if len(m.rounds) > maxRounds {
				m.rounds = append([]*Round(nil), m.rounds[len(m.rounds)-maxRounds:]...)
			}
		}
		switch e.Type {
		case events.RoundPlanned:
			r.Reason, r.Files, r.MoreFiles, r.Steps, r.Planned = e.Reason, e.Files, e.MoreFiles, e.Steps, e.Time
		case events.RoundFinished:
			r.Reason, r.Files, r.MoreFiles, r.Steps, r.TookMs, r.Finished = e.Reason, e.Files, e.MoreFiles, e.Steps, e.TookMs, e.Time
			if r.Planned.IsZero() {
				r.Planned = e.Time.Add(-time.Duration(e.TookMs * float64(time.Millisecond)))
			}
		case events.RoundInterrupted:
			r.Interrupted = true
		}
		u.Round = r
	case events.ReloadApplied:
		m.reload = &Reload{OK: true, Time: e.Time, Files: e.Files, Reload: e.Reload, TookMs: e.TookMs, Round: e.Round}
		u.Reload = m.reload
	case events.ReloadRefused:
		m.reload = &Reload{OK: false, Time: e.Time, Files: e.Files, Error: e.Error}
		u.Reload = m.reload
	case events.WatchStarted:
		m.watch = Watch{PID: e.PID, Roots: e.Roots, Services: e.Services, Started: e.Time}
		u.Watch = &m.watch
	case events.WatchStopped:
		m.watch.Stopped = e.Reason
		if m.watch.Stopped == "" {
			m.watch.Stopped = "stopped"
		}
		u.Watch = &m.watch
	case events.WatchError:
		m.watch.Problem = e.Error
		u.Watch = &m.watch
	case events.WatchOverflow:
		m.watch.Problem = "the watcher lost events (the kernel queue overflowed): every watched service restarts"
		u.Watch = &m.watch
	}
	return u
}

// applyService notes what e says of s; it says whether s's state changed.
// The states follow the loop's own view (rebuild's board).
func (m *model) applyService(s *Service, e events.Event) bool {
	switch e.Type {
	case events.ServiceStarting:
		s.State, s.Reason, s.DelayMs = events.Starting, e.Reason, 0
	case events.ServiceReady, events.ServiceReused:
		s.State, s.Reason, s.Error, s.Exit, s.DelayMs = events.Ready, e.Reason, "", "", 0
		s.Host, s.PID = e.Host, e.PID
		if e.Type == events.ServiceReady {
			s.ReadyMs, s.ReadyAt = e.TookMs, e.Time
		}
	case events.ServiceBuilding:
		m.before[s.Name] = s.State
		s.State, s.Reason = events.Building, e.Reason
	case events.BuildFailed:
		s.Error = e.Error
		if m.before[s.Name] == events.Ready {
			s.State, s.Reason = events.Ready, "its build failed; still running the previous version"
		} else {
			s.State, s.Reason = events.Failed, "its build failed: "+firstLine(e.Error)
		}
	case events.ServiceBackoff:
		s.State, s.Reason, s.Exit, s.DelayMs = events.Backoff, e.Reason, e.Exit, e.DelayMs
	case events.ServiceFailed:
		s.State, s.Reason, s.Error = events.Failed, firstLine(e.Error), e.Error
	case events.ServiceCrashed:
		s.State, s.Exit, s.Reason = events.Crashed, e.Exit, e.Reason
	case events.ServiceStopped:
		s.State, s.Reason, s.Freshness, s.Files, s.MoreFiles = events.Stopped, e.Reason, events.Unknown, nil, 0
	case events.ServiceStale:
		s.Freshness, s.Files, s.MoreFiles = events.Stale, e.Files, e.MoreFiles
		m.freshAt[s.Name] = e.Time
		return false
	case events.ServiceFresh:
		s.Freshness, s.Files, s.MoreFiles = events.Fresh, nil, 0
		m.freshAt[s.Name] = e.Time
		return false
	default:
		return false
	}
	return true
}

// refreshed takes the loop's view of every service, asked for at asked:
// the structure (which services, their deps and tier) as it says; a
// state or freshness only where no event since asked said otherwise.
func (m *model) refreshed(st []Service, asked time.Time) {
	services := make(map[string]*Service, len(st))
	order := make([]string, 0, len(st))
	for _, n := range st {
		s, ok := m.services[n.Name]
		if !ok {
			s = &Service{Name: n.Name}
		}
		s.Tier, s.Deps = n.Tier, n.Deps
		if n.Host != "" {
			s.Host, s.PID = n.Host, n.PID
		}
		if !m.stateAt[n.Name].After(asked) {
			if s.State != n.State {
				s.Since = asked
			}
			s.State = n.State
			if n.Reason != "" || n.State != events.Starting {
				s.Reason = n.Reason
			}
		}
		if !m.freshAt[n.Name].After(asked) {
			s.Freshness, s.Files, s.MoreFiles = n.Freshness, n.Files, n.MoreFiles
			if len(s.Files) > events.MaxFiles {
				s.Files, s.MoreFiles = s.Files[:events.MaxFiles], len(n.Files)-events.MaxFiles
			}
		}
		services[n.Name] = s
		order = append(order, n.Name)
	}
	m.services, m.order = services, order
}

// seed takes the ready-in times of earlier events (the events file), for
// the services no event of this pets has said it of.
func (m *model) seed(evs []events.Event) {
	for _, e := range evs {
		if e.Type != events.ServiceReady {
			continue
		}
		if s, ok := m.services[e.Service]; ok && (s.ReadyAt.IsZero() || s.ReadyAt.Before(e.Time) && !m.stateAt[e.Service].After(e.Time)) {
			s.ReadyMs, s.ReadyAt = e.TookMs, e.Time
		}
	}
}

// list is the services in order.
func (m *model) list() []*Service {
	out := make([]*Service, 0, len(m.order))
	for _, n := range m.order {
		out = append(out, m.services[n])
	}
	return out
}

func (m *model) round(n int) *Round {
	for _, r := range m.rounds {
		if r.N == n {
			return r
		}
	}
	return nil
}

// snapshot is the whole model as JSON (without logs: see Server).
type snapshot struct {
	Services []*Service         `json:"services"`
	Rounds   []*Round           `json:"rounds"`
	Reload   *Reload            `json:"reload,omitempty"`
	Watch    Watch              `json:"watch"`
	Logs     map[string]logPart `json:"logs"`
	Window   int                `json:"window"` // lines of log per service the page keeps
	Petsfile string             `json:"petsfile,omitempty"`
	Now      time.Time          `json:"now"`
}

// logPart is some lines of a service's log, and how many were skipped
// before them.
type logPart struct {
	Lines   []string `json:"lines"`
	Skipped int64    `json:"skipped,omitempty"`
}

func (m *model) snapshot() snapshot {
	rounds := m.rounds
	if rounds == nil {
		rounds = []*Round{}
	}
	return snapshot{Services: m.list(), Rounds: rounds, Reload: m.reload, Watch: m.watch, Now: time.Now()}
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // only plain values: cannot happen
		return []byte(`{}`)
	}
	return b
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
