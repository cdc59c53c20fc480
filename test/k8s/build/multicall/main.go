// Command k8s is one static binary holding every server a single-node test
// cluster needs: etcd and the Kubernetes control plane and node components.
// One binary links the shared dependencies once (126 MiB instead of ~6x that)
// and one `go build` caches all of them together.
//
//	k8s <component> [flags...]     e.g. k8s kube-apiserver --etcd-servers=...
//
// It also dispatches on its own name, so a symlink named after a component
// works like the upstream binary.
//
// One helper is not upstream: `k8s cri-remove-all-pods --endpoint unix:///sock`
// stops and removes every pod sandbox through the CRI, the way kubelet would.
// Stopping a sandbox through the CRI is what runs the CNI DEL (veth, IPAM
// lease, portmap rules) and unmounts its network namespace and /dev/shm; the
// cluster's `stop` uses it so no pod leaves anything behind on the host.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"

	_ "time/tzdata" // CronJob time zones, as upstream's apiserver/controller-manager mains

	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as every upstream main
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as every upstream main
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as every upstream main

	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// cobraMains are the Kubernetes components; each builds its cobra command
// exactly as its upstream main.go does.
var cobraMains = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kube-proxy":              proxy.NewProxyCommand,
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if !isComponent(name) {
		if len(args) == 0 || !isComponent(args[0]) {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}

	switch name {
	case "cri-remove-all-pods":
		os.Exit(criRemoveAllPods(args))
	case "etcd":
		// etcdmain parses args[1:] itself and exits on its own.
		etcdmain.Main(append([]string{"etcd"}, args...))
		return
	}
	command := cobraMains[name]()
	command.SetArgs(args) // cobra would otherwise read os.Args[1:], which holds the component name
	os.Exit(cli.Run(command))
}

func isComponent(name string) bool {
	_, ok := cobraMains[name]
	return ok || name == "etcd" || name == "cri-remove-all-pods"
}

func usage() {
	names := []string{"etcd", "cri-remove-all-pods"}
	for n := range cobraMains {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: %s <component> [flags...]\ncomponents: %s\n",
		filepath.Base(os.Args[0]), strings.Join(names, ", "))
}
