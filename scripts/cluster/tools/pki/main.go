// Command pki writes the certificates, keys and kubeconfigs of the local test
// cluster into -dir (ECDSA P-256, one throwaway CA). Existing files are kept, so
// running it again is a no-op.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

type cert struct {
	name   string
	cn     string
	org    []string
	server bool
	client bool
	dns    []string
	ips    []string
}

var certs = []cert{
	{name: "apiserver", cn: "kube-apiserver", server: true,
		dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		ips: []string{"127.0.0.1", "198.18.0.1"}},
	{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", org: []string{"system:masters"}, client: true},
	{name: "admin", cn: "pets-admin", org: []string{"system:masters"}, client: true},
	// system:masters lets kube-controller-manager run every controller under its own
	// identity (--use-service-account-credentials=false): starting ~35 controllers
	// with a service-account token each costs ~150 ms apiece, seconds in all.
	{name: "kube-controller-manager", cn: "system:kube-controller-manager", org: []string{"system:masters"}, client: true},
	{name: "kube-scheduler", cn: "system:kube-scheduler", client: true},
	{name: "kubelet", cn: "system:node:localhost", org: []string{"system:nodes"}, client: true},
	{name: "kubelet-serving", cn: "localhost", server: true, dns: []string{"localhost"}, ips: []string{"127.0.0.1"}},
}

func main() {
	dir := flag.String("dir", "", "output directory")
	server := flag.String("server", "https://127.0.0.1:6443", "API server URL for the kubeconfigs")
	context := flag.String("context", "pets-test", "context name of the admin kubeconfig")
	adminKubeconfig := flag.String("admin-kubeconfig", "", "where to write the admin kubeconfig (default DIR/admin.kubeconfig)")
	flag.Parse()
	if *dir == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *adminKubeconfig == "" {
		*adminKubeconfig = filepath.Join(*dir, "admin.kubeconfig")
	}
	if err := run(*dir, *server, *context, *adminKubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "pki:", err)
		os.Exit(1)
	}
}

func run(dir, server, context, adminKubeconfig string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caCert, caKey, err := loadOrCreateCA(dir)
	if err != nil {
		return err
	}
	for _, c := range certs {
		if exists(filepath.Join(dir, c.name+".crt")) && exists(filepath.Join(dir, c.name+".key")) {
			continue
		}
		if err := issue(dir, c, caCert, caKey); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	if !exists(filepath.Join(dir, "sa.key")) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pub, 0o644); err != nil {
			return err
		}
		if err := writeKey(filepath.Join(dir, "sa.key"), key); err != nil {
			return err
		}
	}
	kcs := map[string]string{
		"kube-controller-manager": filepath.Join(dir, "kube-controller-manager.kubeconfig"),
		"kube-scheduler":          filepath.Join(dir, "kube-scheduler.kubeconfig"),
		"kubelet":                 filepath.Join(dir, "kubelet.kubeconfig"),
	}
	for name, path := range kcs {
		if err := writeKubeconfig(path, dir, name, server, "pets-test-"+name); err != nil {
			return err
		}
	}
	return writeKubeconfig(adminKubeconfig, dir, "admin", server, context)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	crtPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if exists(crtPath) && exists(keyPath) {
		crtPEM, err := os.ReadFile(crtPath)
		if err != nil {
			return nil, nil, err
		}
		keyPEM, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, nil, err
		}
		cb, _ := pem.Decode(crtPEM)
		kb, _ := pem.Decode(keyPEM)
		if cb == nil || kb == nil {
			return nil, nil, errors.New("bad PEM in ca.crt/ca.key")
		}
		c, err := x509.ParseCertificate(cb.Bytes)
		if err != nil {
			return nil, nil, err
		}
		k, err := x509.ParseECPrivateKey(kb.Bytes)
		return c, k, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "pets-test-cluster-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	return c, key, writePEM(crtPath, "CERTIFICATE", der, 0o644)
}

func issue(dir string, c cert, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: c.cn, Organization: c.org},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     c.dns,
	}
	for _, ip := range c.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	if c.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if c.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, c.name+".key"), key); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, c.name+".crt"), "CERTIFICATE", der, 0o644)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func writeKubeconfig(path, dir, name, server, context string) error {
	read := func(f string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		return base64.StdEncoding.EncodeToString(b), err
	}
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	crt, err := read(name + ".crt")
	if err != nil {
		return err
	}
	key, err := read(name + ".key")
	if err != nil {
		return err
	}
	user := name
	if name == "admin" {
		user = "pets-test-admin"
	}
	yaml := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: pets-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: %s
  context:
    cluster: pets-test
    user: %s
    namespace: default
current-context: %s
`, server, ca, user, crt, key, context, user, context)
	return writeFile(path, []byte(yaml), 0o600)
}
