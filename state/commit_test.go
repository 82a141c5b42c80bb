package state

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// Updates asked for while another is being written are committed together;
// one that fails is undone alone, whatever it changed first, and the others
// of its batch, before and after it, are written.
func TestBatchedUpdateFailsAlone(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Update(func(f *File) error { f.Services["a"] = &Service{Name: "a", Deps: []string{"x"}}; return nil }); err != nil {
		t.Fatal(err)
	}
	// Hold the lock as another pets would: the first update waits for it,
	// and the next three queue behind it into one batch.
	unlock, err := lockFile(context.Background(), filepath.Join(d.Path, "state.lock"))
	if err != nil {
		t.Fatal(err)
	}
	c := committerOf(d.Path)
	errs := make(chan error, 4)
	update := func(fn func(*File) error) { go func() { errs <- d.Update(fn) }() }
	update(func(f *File) error { f.Services["first"] = &Service{Name: "first"}; return nil })
	waitPending(t, c, 0) // the first took its batch and waits for the lock
	update(func(f *File) error { f.Services["b"] = &Service{Name: "b"}; return nil })
	waitPending(t, c, 1)
	no := errors.New("no")
	update(func(f *File) error {
		f.Services["a"].Deps[0] = "changed" // in place: the undo must not share it
		f.Services["a"].Status = "changed"
		f.Services["c"] = &Service{Name: "c"}
		return no
	})
	waitPending(t, c, 2)
	update(func(f *File) error {
		if f.Services["c"] != nil || f.Services["b"] == nil {
			return errors.New("saw the failed update, or not the one before it")
		}
		f.Services["d"] = &Service{Name: "d"}
		return nil
	})
	waitPending(t, c, 3)
	unlock()
	var failed int
	for range 4 {
		select {
		case err := <-errs:
			if errors.Is(err, no) {
				failed++
			} else if err != nil {
				t.Error(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("an update did not return")
		}
	}
	if failed != 1 {
		t.Errorf("%d updates said they failed, want 1", failed)
	}
	f, err := d.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "first", "b", "d"} {
		if f.Services[n] == nil {
			t.Errorf("%s was not written", n)
		}
	}
	if f.Services["c"] != nil || f.Services["a"].Status != "" || f.Services["a"].Deps[0] != "x" {
		t.Errorf("the failed update was written: %+v, c=%v", f.Services["a"], f.Services["c"])
	}
}

// waitPending waits until n updates of c wait for the next commit.
func waitPending(t *testing.T, c *committer, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		got, busy := len(c.pending), c.busy
		c.mu.Unlock()
		if busy && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d updates pending (busy %v), want %d", got, busy, n)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

// clone shares nothing with what it copies, whatever fields File gains:
// every field is filled (by reflection) and every pointer, map and slice
// of the copy must be its own.
func TestCloneSharesNothing(t *testing.T) {
	var f File
	fill(reflect.ValueOf(&f).Elem(), 0)
	c := f.clone()
	if !reflect.DeepEqual(&f, c) {
		t.Fatalf("clone differs:\n%+v\n%+v", f, *c)
	}
	shared(t, "File", reflect.ValueOf(f), reflect.ValueOf(*c))
}

// fill sets every field of v to something not zero.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(1, 0).UTC()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fill(v.Index(i), depth+1)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k := reflect.New(v.Type().Key()).Elem()
		fill(k, depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, depth+1)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		v.SetUint(1)
	}
}

// shared fails if a and b (equal values) share a pointer, map or slice.
func shared(t *testing.T, path string, a, b reflect.Value) {
	switch a.Kind() {
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if a.Type().Field(i).IsExported() {
				shared(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
		}
	case reflect.Pointer:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			t.Errorf("%s is shared", path)
			return
		}
		if !a.IsNil() {
			shared(t, path, a.Elem(), b.Elem())
		}
	case reflect.Slice:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			t.Errorf("%s is shared", path)
			return
		}
		for i := 0; i < a.Len(); i++ {
			shared(t, path+"[]", a.Index(i), b.Index(i))
		}
	case reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			t.Errorf("%s is shared", path)
			return
		}
		for _, k := range a.MapKeys() {
			shared(t, path+"[]", a.MapIndex(k), b.MapIndex(k))
		}
	}
}
