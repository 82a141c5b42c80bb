// Command pets-cni is a CNI plugin that configures nothing. Each pod keeps its own
// network namespace holding only lo (set up by the loopback plugin), so nothing a
// pod does can leave the host; port-forward still enters the pod's namespace.
// containerd 1.6 insists on an eth0 with an IP in the CNI result, so ADD reports
// eth0 with 127.77.x.y/32, derived from the container id. DEL and CHECK succeed.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

var supported = []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0"}

type netConf struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
}

func main() {
	cmd := os.Getenv("CNI_COMMAND")
	if cmd == "VERSION" {
		emit(map[string]any{"cniVersion": "1.0.0", "supportedVersions": supported})
		return
	}
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("1.0.0", 999, "reading config: "+err.Error())
	}
	var conf netConf
	if err := json.Unmarshal(raw, &conf); err != nil {
		fail("1.0.0", 6, "decoding config: "+err.Error())
	}
	if conf.CNIVersion == "" {
		conf.CNIVersion = "0.4.0"
	}
	switch cmd {
	case "ADD":
		id := os.Getenv("CNI_CONTAINERID")
		ifname := os.Getenv("CNI_IFNAME")
		if ifname == "" {
			ifname = "eth0"
		}
		sum := sha256.Sum256([]byte(id))
		x, y := sum[0], 1+sum[1]%254 // 127.77.0.1 .. 127.77.255.254
		ip := map[string]any{"address": fmt.Sprintf("127.77.%d.%d/32", x, y), "interface": 0}
		if !strings.HasPrefix(conf.CNIVersion, "1.") {
			ip["version"] = "4"
		}
		emit(map[string]any{
			"cniVersion": conf.CNIVersion,
			"interfaces": []any{map[string]any{"name": ifname, "sandbox": os.Getenv("CNI_NETNS")}},
			"ips":        []any{ip},
		})
	case "DEL", "CHECK", "GC", "STATUS":
		// Nothing was configured, so there is nothing to remove or check.
	default:
		fail(conf.CNIVersion, 4, "unknown CNI_COMMAND "+cmd)
	}
}

func emit(v any) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		os.Exit(1)
	}
}

func fail(version string, code int, msg string) {
	emit(map[string]any{"cniVersion": version, "code": code, "msg": msg})
	os.Exit(1)
}
