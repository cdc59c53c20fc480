package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criRemoveAllPods stops and removes every pod sandbox of a CRI runtime.
func criRemoveAllPods(args []string) int {
	flags := flag.NewFlagSet("cri-remove-all-pods", flag.ExitOnError)
	endpoint := flags.String("endpoint", "", "CRI endpoint, e.g. unix:///run/containerd/containerd.sock")
	timeout := flags.Duration("timeout", 2*time.Minute, "give up after this long")
	_ = flags.Parse(args) // ExitOnError: Parse exits itself on bad flags
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "cri-remove-all-pods: --endpoint is required")
		return 2
	}

	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-remove-all-pods: connect %s: %v\n", *endpoint, err)
		return 1
	}
	defer conn.Close()
	runtime := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	pods, err := runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-remove-all-pods: list pod sandboxes: %v\n", err)
		return 1
	}
	failed := 0
	for _, pod := range pods.Items {
		name := pod.Metadata.Namespace + "/" + pod.Metadata.Name
		// Stop kills the pod's containers and tears its network down; remove
		// then deletes the containers, the sandbox and their mounts.
		if _, err := runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-remove-all-pods: stop %s: %v\n", name, err)
			failed++
			continue
		}
		if _, err := runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-remove-all-pods: remove %s: %v\n", name, err)
			failed++
			continue
		}
		fmt.Printf("removed pod %s\n", name)
	}
	if failed > 0 {
		return 1
	}
	return 0
}
