package cli

import (
	"os"
	"testing"
)

// The hand-over mark is read once and removed: nothing pets-kube starts
// inherits it, and a later load runs the Petsfile's run() calls again.
func TestTakeHandedOver(t *testing.T) {
	t.Setenv(handedOverEnv, "1")
	if !takeHandedOver() {
		t.Fatal("the mark was not seen")
	}
	if v, ok := os.LookupEnv(handedOverEnv); ok {
		t.Errorf("%s=%q is still in the environment", handedOverEnv, v)
	}
	if takeHandedOver() {
		t.Error("the mark was seen twice")
	}
}
