package sync

// Tests against the project's real cluster (make cluster-up); they skip
// without it and fail under CI=true (internal/testcluster).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/windmilleng/pets/internal/testcluster"
	"github.com/windmilleng/pets/kube"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
)

func deployment(name, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: %[2]s
        imagePullPolicy: Never
`, name, image)
}

type cluster struct {
	c  *kube.Client
	cs *kubernetes.Clientset
	ns string
}

func setup(t *testing.T, name, image string) *cluster {
	t.Helper()
	return setupManifest(t, deployment(name, image))
}

func setupManifest(t *testing.T, manifest string) *cluster {
	t.Helper()
	path := testcluster.Kubeconfig(t)
	cfg, err := kube.LoadConfig(kube.LoadOptions{Kubeconfig: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.CheckContext(cfg.Context, cfg.Server, nil); err != nil {
		t.Fatal(err)
	}
	c, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg.Rest)
	if err != nil {
		t.Fatal(err)
	}
	ns := testcluster.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	objs, err := c.Apply(ctx, []byte(manifest), ns)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRollout(ctx, objs, 2*time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	return &cluster{c: c, cs: cs, ns: ns}
}

func (k *cluster) pod(t *testing.T, sel string) kube.Pod {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pods, err := k.c.ReadyPods(context.Background(), kube.PodSelector{Namespace: k.ns, Selector: sel})
		if err == nil && len(pods) == 1 {
			return pods[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single ready pod for %s: %v %v", sel, pods, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the API server for a state, with a deadline
	}
}

func (k *cluster) sh(t *testing.T, pod kube.Pod, script string) string {
	t.Helper()
	var out bytes.Buffer
	if err := k.c.Exec(context.Background(), pod, []string{"sh", "-c", script}, kube.Streams{Stdout: &out, Stderr: &out}); err != nil {
		t.Fatalf("exec %q: %v\n%s", script, err, out.String())
	}
	return out.String()
}

func writeFile(t *testing.T, p, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func TestSyncEditsDeletionsCommandsAndReplacedPods(t *testing.T) {
	k := setup(t, "web", "pets.local/busybox-app:1")
	dir := t.TempDir()
	static := filepath.Join(dir, "static")
	rule := petsfile.SyncRule{
		Selector: "app=web", Namespace: k.ns, Pos: "Petsfile:1:1",
		Paths: []petsfile.SyncPath{{Local: static, Remote: "/www"}},
		Run: []petsfile.SyncRun{
			{Cmd: "date +%s%N > /tmp/ran-always"},
			{Cmd: "touch /tmp/ran-conf", Trigger: []string{filepath.ToSlash(static) + "/**/*.conf"}},
		},
	}
	key := petsfile.Key{Name: "web", Tier: "k8s"}
	s := &Syncer{Client: k.c}
	ctx := context.Background()

	a, b := filepath.Join(static, "index.html"), filepath.Join(static, "css", "run.sh")
	writeFile(t, a, "hello v1\n", 0o644)
	writeFile(t, b, "#!/bin/sh\necho hi\n", 0o755)
	rep, err := syncPaths(ctx, s, key, []petsfile.SyncRule{rule}, []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	pod := k.pod(t, "app=web")
	if rep.Files != 2 || len(rep.Pods) != 1 || rep.Pods[0] != pod.String() {
		t.Errorf("report %+v", rep)
	}
	if got := k.sh(t, pod, "cat /www/index.html; stat -c %a /www/css/run.sh; ls /tmp"); got != "hello v1\n755\nran-always\n" {
		t.Errorf("in the pod after the first sync:\n%s", got)
	}

	// An edit, a deletion and a triggered command.
	writeFile(t, a, "hello v2\n", 0o644)
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(static, "app.conf")
	writeFile(t, conf, "x=1\n", 0o600)
	rep, err = syncPaths(ctx, s, key, []petsfile.SyncRule{rule}, []string{a, b, conf})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 2 || rep.Gone != 1 || len(rep.Ran) != 2 {
		t.Errorf("report %+v", rep)
	}
	if got := k.sh(t, pod, "cat /www/index.html; [ -e /www/css/run.sh ] || echo run.sh gone; stat -c %a /www/app.conf; ls /tmp"); got != "hello v2\nrun.sh gone\n600\nran-always\nran-conf\n" {
		t.Errorf("after edit, deletion and a triggered command:\n%s", got)
	}

	// The pod is replaced: its successor gets everything changed since
	// deploy with the next sync, not only the next change.
	if err := k.cs.CoreV1().Pods(k.ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var next kube.Pod
	deadline := time.Now().Add(2 * time.Minute)
	for next = k.pod(t, "app=web"); next.UID == pod.UID; next = k.pod(t, "app=web") {
		if time.Now().After(deadline) {
			t.Fatal("the pod was not replaced")
		}
		time.Sleep(50 * time.Millisecond) // polling the API server, with a deadline
	}
	other := filepath.Join(static, "new.txt")
	writeFile(t, other, "new\n", 0o644)
	if _, err := syncPaths(ctx, s, key, []petsfile.SyncRule{rule}, []string{other}); err != nil {
		t.Fatal(err)
	}
	if got := k.sh(t, next, "cat /www/index.html /www/new.txt /www/app.conf; [ -e /www/css/run.sh ] || echo run.sh gone"); got != "hello v2\nnew\nx=1\nrun.sh gone\n" {
		t.Errorf("the replacement pod lacks earlier changes:\n%s", got)
	}

	// After a redeploy no pod counts as having the files; the history of
	// changes stays (a surviving pod must still get the deletions).
	s.Deployed(key)
	s.mu.Lock()
	seen, n := len(s.seen[key]), len(s.history[key])
	s.mu.Unlock()
	if seen != 0 || n == 0 {
		t.Errorf("after Deployed: %d pods seen (want 0), %d paths of history (want them kept)", seen, n)
	}
}

func TestSyncRefusesEscapesAndMissingTools(t *testing.T) {
	k := setup(t, "notar", "pets.local/notar-http:1")
	dir := t.TempDir()
	static := filepath.Join(dir, "static")
	writeFile(t, filepath.Join(static, "ok.txt"), "x", 0o644)
	rule := petsfile.SyncRule{Selector: "app=notar", Namespace: k.ns, Pos: "Petsfile:3:5", Paths: []petsfile.SyncPath{{Local: static, Remote: "/www"}}}
	s := &Syncer{Client: k.c}
	ctx := context.Background()
	key := petsfile.Key{Name: "notar", Tier: "k8s"}

	// No tar, no shell in the image: advice, so the caller restarts instead.
	_, err := syncPaths(ctx, s, key, []petsfile.SyncRule{rule}, []string{filepath.Join(static, "ok.txt")})
	var adv *kube.AdviceError
	if !errors.As(err, &adv) || !strings.Contains(err.Error(), "tar") {
		t.Fatalf("sync into an image without tar: %v", err)
	}
	// The same with a tar far larger than the pipe takes: the exec fails
	// while the tar is still being written, and its failure is the answer,
	// not the write the failed exec cut short.
	big := filepath.Join(static, "big.bin")
	writeFile(t, big, strings.Repeat("0123456789abcdef", 1<<19), 0o644) // 8 MiB
	_, err = syncPaths(ctx, s, key, []petsfile.SyncRule{rule}, []string{big})
	if !errors.As(err, &adv) || !strings.Contains(err.Error(), "tar") {
		t.Fatalf("a large sync into an image without tar: %v", err)
	}
	if err := os.Remove(big); err != nil {
		t.Fatal(err)
	}

	// A symlink leading out of the tree is never followed.
	if err := os.Symlink("/etc/passwd", filepath.Join(static, "passwd")); err != nil {
		t.Fatal(err)
	}
	s2 := &Syncer{Client: k.c}
	_, err = syncPaths(ctx, s2, petsfile.Key{Name: "x", Tier: "k8s"}, []petsfile.SyncRule{rule}, []string{filepath.Join(static, "passwd")})
	if !errors.Is(err, kube.ErrUnsafePath) {
		t.Fatalf("a symlink out of the tree: %v", err)
	}

}

// restartDeployment runs busybox httpd under pets-restart; every start of
// the server appends a line to /tmp/starts.
func restartDeployment(name string) string {
	return deployment(name, "pets.local/busybox-app:1") + `        command: ["pets-restart", "--", "sh", "-c", "date +%s%N >> /tmp/starts; exec httpd -f -p 8080 -h /www"]
`
}

func TestSeedAtDeployAndRestartUnderTheWrapper(t *testing.T) {
	k := setupManifest(t, restartDeployment("rs"))
	dir := t.TempDir()
	static := filepath.Join(dir, "static")
	writeFile(t, filepath.Join(static, "index.html"), "seeded\n", 0o644)
	writeFile(t, filepath.Join(static, "sub", "a.txt"), "a\n", 0o644)
	if err := os.Symlink("sub", filepath.Join(static, "link")); err != nil { // a symlink to a directory inside the tree
		t.Fatal(err)
	}
	// Never sent: what the watcher ignores too.
	writeFile(t, filepath.Join(static, ".git", "HEAD"), "ref\n", 0o644)
	writeFile(t, filepath.Join(static, "x.skip"), "ignore= glob\n", 0o644)
	writeFile(t, filepath.Join(dir, ".gitignore"), "*.log\n", 0o644)
	writeFile(t, filepath.Join(static, "y.log"), "gitignored\n", 0o644)
	writeFile(t, filepath.Join(static, ".index.html.swp"), "vim\n", 0o644)
	// A second rule into the same pod.
	writeFile(t, filepath.Join(dir, "extra", "e.txt"), "e\n", 0o644)
	rule := petsfile.SyncRule{Selector: "app=rs", Namespace: k.ns, Pos: "Petsfile:2:3", Base: dir, Restart: true,
		Paths: []petsfile.SyncPath{{Local: static, Remote: "/www"}}, Ignore: []string{filepath.ToSlash(static) + "/*.skip"}}
	extra := petsfile.SyncRule{Selector: "app=rs", Namespace: k.ns, Pos: "Petsfile:3:3", Base: dir,
		Paths: []petsfile.SyncPath{{Local: filepath.Join(dir, "extra"), Remote: "/extra"}}}
	rules := []petsfile.SyncRule{rule, extra}
	key := petsfile.Key{Name: "rs", Tier: "k8s"}
	s := &Syncer{Client: k.c}
	ctx := context.Background()
	pod := k.pod(t, "app=rs")

	rep, err := s.Seed(ctx, key, whole(rules))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 4 || fmt.Sprint(rep.Ran) != "[restart]" {
		t.Errorf("seed report %+v; want 4 files (index.html, sub/a.txt, link; extra/e.txt) and a restart", rep)
	}
	if got := k.sh(t, pod, "cat /www/index.html /www/link/a.txt /extra/e.txt; readlink /www/link; ls -A /www; wc -l < /tmp/starts"); got != "seeded\na\ne\nsub\nindex.html\nlink\nsub\n2\n" {
		t.Errorf("in the pod after the seed (want both trees, the link kept, nothing ignored, the server started twice):\n%s", got)
	}

	// An edit: synced, and the server restarts in the same container.
	writeFile(t, filepath.Join(static, "index.html"), "edited\n", 0o644)
	if _, err := syncPaths(ctx, s, key, rules, []string{filepath.Join(static, "index.html")}); err != nil {
		t.Fatal(err)
	}
	if got := k.sh(t, pod, "cat /www/index.html; wc -l < /tmp/starts"); got != "edited\n3\n" {
		t.Errorf("after an edit:\n%s", got)
	}
	p, err := k.cs.CoreV1().Pods(k.ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rc := p.Status.ContainerStatuses[0].RestartCount; rc != 0 {
		t.Errorf("the container restarted %d times; restart=True must restart only its process", rc)
	}

	// A deletion that restarted the service instead of a sync (with a change
	// outside the rules), and a redeploy that kept the pod: the seed after
	// it deletes the file.
	if err := os.Remove(filepath.Join(dir, "extra", "e.txt")); err != nil {
		t.Fatal(err)
	}
	s.Changed(key, []string{filepath.Join(dir, "extra", "e.txt"), filepath.Join(dir, "backend.yaml")})
	s.Deployed(key)
	if _, err := s.Seed(ctx, key, whole(rules)); err != nil {
		t.Fatal(err)
	}
	if got := k.sh(t, pod, "[ -e /extra/e.txt ] && echo still there || echo deleted"); got != "deleted\n" {
		t.Errorf("a file deleted before a redeploy that kept the pod: %s", got)
	}

	// A build's output that the ignore files keep out of the tree (y.log
	// stands for bin/server under a git-ignored bin/ in a rule mapping their
	// parent): a seed given it sends it, to a pod seeded already, alone.
	rep, err = s.Seed(ctx, key, []rebuild.RuleFiles{{Rule: rule, Paths: []string{filepath.Join(static, "y.log")}}, {Rule: extra}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 1 {
		t.Errorf("seed with a build output to a seeded pod: %+v, want that one file", rep)
	}
	if got := k.sh(t, pod, "cat /www/y.log"); got != "gitignored\n" {
		t.Errorf("the build output in the pod: %q", got)
	}

	// Following the pods: a replacement gets the tree as soon as it is
	// ready, before any further edit.
	fctx, stop := context.WithCancel(ctx)
	reports := make(chan string, 10)
	followed := make(chan error, 1)
	go func() {
		followed <- s.Follow(fctx, key, rules, func(rep rebuild.SyncReport, err error) {
			reports <- fmt.Sprintf("%v %v", rep.Pods, err)
		})
	}()
	defer func() {
		stop()
		if err := <-followed; err != nil {
			t.Errorf("Follow: %v", err)
		}
	}()
	if err := k.cs.CoreV1().Pods(k.ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < len(rules) { // one report per rule
		select {
		case r := <-reports:
			got = append(got, r)
		case <-time.After(2 * time.Minute):
			t.Fatalf("the replacement pod was not synced by every rule: %v", got)
		}
	}
	next := k.pod(t, "app=rs")
	if want := fmt.Sprintf("[%s] <nil>", next); next.UID == pod.UID || got[0] != want || got[1] != want {
		t.Fatalf("follow reported %q; want the replacement %s synced", got, next)
	}
	if got := k.sh(t, next, "cat /www/index.html; readlink /www/link; wc -l < /tmp/starts"); got != "edited\nsub\n2\n" {
		t.Errorf("in the replacement pod (want the edit, the link, and its server restarted once):\n%s", got)
	}
}

func TestRestartWithoutTheWrapperAndSymlinkedParents(t *testing.T) {
	k := setup(t, "plain", "pets.local/busybox-app:1") // httpd, not under pets-restart
	dir := t.TempDir()
	static := filepath.Join(dir, "static")
	writeFile(t, filepath.Join(static, "index.html"), "x\n", 0o644)
	rule := petsfile.SyncRule{Selector: "app=plain", Namespace: k.ns, Pos: "Petsfile:4:1", Base: dir, Restart: true,
		Paths: []petsfile.SyncPath{{Local: static, Remote: "/www"}}}
	s := &Syncer{Client: k.c}
	ctx := context.Background()
	_, err := syncPaths(ctx, s, petsfile.Key{Name: "plain", Tier: "k8s"}, []petsfile.SyncRule{rule}, []string{filepath.Join(static, "index.html")})
	if err == nil || !strings.Contains(err.Error(), "Petsfile:4:1: restart=True") || !strings.Contains(err.Error(), "pets-restart -- CMD") {
		t.Errorf("restart=True without the wrapper: %v", err)
	}

	// A rule path under a symlinked directory reads from wherever it leads.
	elsewhere := t.TempDir()
	writeFile(t, filepath.Join(elsewhere, "static", "secret.txt"), "s\n", 0o644)
	if err := os.Symlink(elsewhere, filepath.Join(dir, "lnk")); err != nil {
		t.Fatal(err)
	}
	via := petsfile.SyncRule{Selector: "app=plain", Namespace: k.ns, Pos: "Petsfile:5:1", Base: dir,
		Paths: []petsfile.SyncPath{{Local: filepath.Join(dir, "lnk", "static"), Remote: "/www"}}}
	secret := filepath.Join(dir, "lnk", "static", "secret.txt")
	_, err = syncPaths(ctx, s, petsfile.Key{Name: "via", Tier: "k8s"}, []petsfile.SyncRule{via}, []string{secret})
	if err == nil || !strings.Contains(err.Error(), "lies under "+filepath.Join(dir, "lnk")+", a symlink") {
		t.Errorf("a rule path under a symlink: %v", err)
	}
	if got := k.sh(t, k.pod(t, "app=plain"), "[ -e /www/secret.txt ] && echo leaked || echo ok"); got != "ok\n" {
		t.Errorf("the file behind the symlink reached the pod: %s", got)
	}
}

// syncPaths syncs paths as the engine would: split among the rules by
// rebuild.Cover.
// whole is what a seed of rules sends: their trees.
func whole(rules []petsfile.SyncRule) []rebuild.RuleFiles {
	files := make([]rebuild.RuleFiles, len(rules))
	for i, r := range rules {
		files[i].Rule = r
	}
	return files
}

func syncPaths(ctx context.Context, s *Syncer, k petsfile.Key, rules []petsfile.SyncRule, paths []string) (rebuild.SyncReport, error) {
	split, _ := rebuild.Cover(rules, paths)
	return s.Sync(ctx, k, split)
}

// One exec carries the files, the commands and the restart: a command that
// fails is still reported on its own (the rule's position, the command, its
// code and output), and neither the commands after it nor the restart run.
func TestFailedCommandStopsTheRestart(t *testing.T) {
	k := setupManifest(t, restartDeployment("cmds"))
	dir := t.TempDir()
	static := filepath.Join(dir, "static")
	page := filepath.Join(static, "index.html")
	writeFile(t, page, "v1\n", 0o644)
	rule := petsfile.SyncRule{Selector: "app=cmds", Namespace: k.ns, Pos: "Petsfile:6:1", Base: dir, Restart: true,
		Paths: []petsfile.SyncPath{{Local: static, Remote: "/www"}},
		Run: []petsfile.SyncRun{
			{Cmd: "echo first >> /tmp/ran"},
			{Cmd: "echo out; echo broken >&2; exit 3"},
			{Cmd: "echo after >> /tmp/ran"},
		}}
	key := petsfile.Key{Name: "cmds", Tier: "k8s"}
	s := &Syncer{Client: k.c}
	ctx := context.Background()
	pod := k.pod(t, "app=cmds")

	_, err := syncPaths(ctx, s, key, []petsfile.SyncRule{rule}, []string{page})
	for _, want := range []string{"Petsfile:6:1: after syncing into " + pod.String(), `"echo out; echo broken >&2; exit 3" failed`, "exit code 3", "out\nbroken"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a failing command: %v\nwant it to say %q", err, want)
		}
	}
	if got := k.sh(t, pod, "cat /www/index.html /tmp/ran; wc -l < /tmp/starts"); got != "v1\nfirst\n1\n" {
		t.Errorf("after a failing command (want the file in, the first command run, the third not, no restart):\n%s", got)
	}

	// A command the image lacks gets advice.
	rule.Run = []petsfile.SyncRun{{Cmd: "no-such-tool --flag"}}
	writeFile(t, page, "v2\n", 0o644)
	_, err = syncPaths(ctx, s, key, []petsfile.SyncRule{rule}, []string{page})
	var adv *kube.AdviceError
	if !errors.As(err, &adv) || adv.Problem != kube.ProblemMissingCommand || adv.Missing != "no-such-tool" {
		t.Errorf("a missing command: %v", err)
	}

	// Commands that succeed: the restart follows.
	rule.Run = []petsfile.SyncRun{{Cmd: "echo again >> /tmp/ran"}}
	writeFile(t, page, "v3\n", 0o644)
	rep, err := syncPaths(ctx, s, key, []petsfile.SyncRule{rule}, []string{page})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rep.Ran) != "[echo again >> /tmp/ran restart]" || rep.Files != 1 {
		t.Errorf("report %+v", rep)
	}
	if got := k.sh(t, pod, "cat /www/index.html /tmp/ran; wc -l < /tmp/starts"); got != "v3\nfirst\nagain\n2\n" {
		t.Errorf("after commands that succeed (want the file, the command, one restart):\n%s", got)
	}
}
