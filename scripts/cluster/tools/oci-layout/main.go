// Command oci-layout writes a single-layer OCI image-layout tarball from a root
// filesystem directory, ready for `ctr images import` (no registry, no Docker).
// The layer is uncompressed and deterministic (owner 0:0, fixed mtimes, sorted
// entries), so the same inputs always give the same image digest, which is
// printed on stdout.
//
//	oci-layout -o app.tar -name pets.local/app:1 -rootfs DIR \
//	    [-entrypoint '["/bin/x"]'] [-cmd '["a","b"]'] [-env K=V]... [-workdir /] [-port 8080]...
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    map[string]string `json:"platform,omitempty"`
}

func main() {
	out := flag.String("o", "", "output tarball (OCI image layout)")
	name := flag.String("name", "", "image reference, e.g. pets.local/app:1")
	rootfs := flag.String("rootfs", "", "directory holding the image's root filesystem")
	entrypoint := flag.String("entrypoint", "", "JSON array")
	cmd := flag.String("cmd", "", "JSON array")
	workdir := flag.String("workdir", "", "working directory")
	var env, ports multi
	flag.Var(&env, "env", "K=V (repeatable)")
	flag.Var(&ports, "port", "exposed TCP port (repeatable)")
	flag.Parse()
	if *out == "" || *name == "" || *rootfs == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *name, *rootfs, *entrypoint, *cmd, *workdir, env, ports); err != nil {
		fmt.Fprintln(os.Stderr, "oci-layout:", err)
		os.Exit(1)
	}
}

func run(out, name, rootfs, entrypoint, cmd, workdir string, env, ports []string) error {
	layer, err := layerTar(rootfs)
	if err != nil {
		return err
	}
	layerDesc := blobDesc("application/vnd.oci.image.layer.v1.tar", layer)

	cfg := map[string]any{}
	if len(env) == 0 {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	cfg["Env"] = env
	for flagName, s := range map[string]string{"Entrypoint": entrypoint, "Cmd": cmd} {
		if s == "" {
			continue
		}
		var v []string
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return fmt.Errorf("-%s: %v", strings.ToLower(flagName), err)
		}
		cfg[flagName] = v
	}
	if workdir != "" {
		cfg["WorkingDir"] = workdir
	}
	if len(ports) > 0 {
		ep := map[string]struct{}{}
		for _, p := range ports {
			ep[p+"/tcp"] = struct{}{}
		}
		cfg["ExposedPorts"] = ep
	}
	config, err := json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       cfg,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDesc.Digest}},
		"history":      []any{map[string]any{"created": epoch.Format(time.RFC3339), "created_by": "pets scripts/cluster/tools/oci-layout"}},
	})
	if err != nil {
		return err
	}
	configDesc := blobDesc("application/vnd.oci.image.config.v1+json", config)

	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        configDesc,
		"layers":        []descriptor{layerDesc},
	})
	if err != nil {
		return err
	}
	manifestDesc := blobDesc("application/vnd.oci.image.manifest.v1+json", manifest)
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name":          name,
		"org.opencontainers.image.ref.name": name,
	}
	manifestDesc.Platform = map[string]string{"architecture": runtime.GOARCH, "os": "linux"}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manifestDesc},
	})
	if err != nil {
		return err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(path string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	files := []struct {
		path string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(layerDesc), layer},
		{blobPath(configDesc), config},
		{blobPath(manifestDesc), manifest},
	}
	for _, f := range files {
		if err := add(f.path, f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Println(manifestDesc.Digest)
	return nil
}

func blobDesc(mediaType string, data []byte) descriptor {
	return descriptor{MediaType: mediaType, Digest: fmt.Sprintf("sha256:%x", sha256.Sum256(data)), Size: int64(len(data))}
}

func blobPath(d descriptor) string { return "blobs/sha256/" + strings.TrimPrefix(d.Digest, "sha256:") }

// layerTar archives dir as an image layer: paths relative to /, owner 0:0,
// permissions and symlinks kept, fixed mtimes, lexical order.
func layerTar(dir string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(info.Mode().Perm()), ModTime: epoch, Format: tar.FormatPAX}
		if info.Mode()&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		if info.Mode()&fs.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		switch {
		case info.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		case info.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
		default:
			return fmt.Errorf("%s: unsupported file type %v", path, info.Mode().Type())
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
