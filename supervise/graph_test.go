package supervise

import (
	"fmt"
	"testing"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/state"
)

// Moved from state's TestSortedAndDependents: the order and the dependents
// pets down uses come from the recorded deps, through petsfile.Graph.
func TestGraphOfTheRecord(t *testing.T) {
	f := &state.File{Services: map[string]*state.Service{
		"web":   {Name: "web", Tier: "local", Deps: []string{"api", "store"}},
		"api":   {Name: "api", Tier: "local", Deps: []string{"store"}},
		"store": {Name: "store", Tier: "local"},
		"tool":  {Name: "tool", Tier: "local", Deps: []string{"gone"}}, // a dependency no longer recorded
	}}
	g := Graph(f)
	var order []string
	for _, k := range g.Order {
		order = append(order, k.Name)
	}
	if got := fmt.Sprint(order); got != "[store api tool web]" {
		t.Errorf("Sorted = %s", got)
	}
	name := func(ks []petsfile.Key) string {
		var out []string
		for _, k := range ks {
			out = append(out, k.Name)
		}
		return fmt.Sprint(out)
	}
	if got := name(g.Dependents(petsfile.Key{Name: "store", Tier: "local"})); got != "[api web]" {
		t.Errorf("Dependents(store) = %s", got)
	}
	if got := name(g.Dependents(petsfile.Key{Name: "web", Tier: "local"})); got != "[]" {
		t.Errorf("Dependents(web) = %s", got)
	}
	if got := name(g.Deps[petsfile.Key{Name: "tool", Tier: "local"}]); got != "[]" {
		t.Errorf("tool's deps = %s, want the unrecorded one left out", got)
	}
}
