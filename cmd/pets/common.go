package main

import (
	"context"
	"errors"
	"os"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/state"
)

func (g *globals) openState() (*state.Dir, error) {
	dir := g.stateDir
	if dir == "" {
		var err error
		if dir, err = state.DefaultDir(); err != nil {
			return nil, err
		}
	}
	return state.Open(dir)
}

// petsfilePath is -f, else the Petsfile in the current directory or a parent.
func (g *globals) petsfilePath() (string, error) {
	if g.file != "" {
		if _, err := os.Stat(g.file); err != nil {
			return "", &petsfile.UsageError{Msg: "cannot read the Petsfile given with -f: " + err.Error(), Hint: "check the path"}
		}
		return g.file, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	p, err := petsfile.Find(wd)
	if errors.Is(err, petsfile.ErrNotFound) {
		return "", &petsfile.UsageError{
			Msg:  "no Petsfile in " + wd + " or any parent directory",
			Hint: "cd into your project, pass -f path/to/Petsfile, or try the example: make demo",
		}
	}
	return p, err
}

func (g *globals) loadProject(ctx context.Context, host petsfile.Host) (*petsfile.Project, error) {
	path, err := g.petsfilePath()
	if err != nil {
		return nil, err
	}
	return petsfile.Load(ctx, path, petsfile.Options{Host: host, Stderr: g.stderr})
}
