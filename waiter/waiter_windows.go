package waiter

import (
	"errors"
	"os"
	"syscall"
)

// relayed: Windows has no signals to pass on (taskkill /T ends the tree).
var relayed []os.Signal

func becomeSubreaper() error { return errors.ErrUnsupported }

func reapTree(child *os.Process, _ bool, onChild func(exited)) exited {
	st, err := child.Wait()
	how := exited{code: 1}
	if err != nil {
		how.text = err.Error()
	} else {
		how = exited{text: st.String(), code: st.ExitCode()}
	}
	onChild(how)
	return how
}

func relay(syscall.Signal, int) {}

// raise: never called here (nothing is relayed).
func raise(syscall.Signal) {}

func mirrorExit(how exited) int { return how.code }

func childAttr() *syscall.SysProcAttr { return nil }
