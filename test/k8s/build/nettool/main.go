// Command nettool is the smoke test's only tool inside pods and containers
// (there is no registry, so no busybox): a TCP server and TCP/DNS probes.
//
//	nettool serve PORT...           answer every connection with "<hostname>:<port>\n"
//	nettool connect HOST:PORT       print "ok <reply>", "refused" or "timeout"
//	nettool dns SERVER:53 NAME      resolve NAME over UDP at SERVER: "ok <ips>", "nxdomain", "servfail" or "timeout"
//	nettool cat FILE                print FILE
//
// Probes always exit 0 when they could tell what happened, so the caller
// compares the printed verdict.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

const probeTimeout = 3 * time.Second

func main() {
	if len(os.Args) < 2 {
		fail("usage: nettool serve PORT... | connect HOST:PORT | dns SERVER:53 NAME | cat FILE")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		serve(args)
	case "connect":
		need(args, 1)
		fmt.Println(connect(args[0]))
	case "dns":
		need(args, 2)
		fmt.Println(lookup(args[0], args[1]))
	case "cat":
		need(args, 1)
		data, err := os.ReadFile(args[0])
		if err != nil {
			fail(err.Error())
		}
		os.Stdout.Write(data)
	default:
		fail("unknown command " + os.Args[1])
	}
}

func serve(ports []string) {
	if len(ports) == 0 {
		fail("serve: at least one port")
	}
	host, _ := os.Hostname()
	for _, port := range ports {
		listener, err := net.Listen("tcp", ":"+port)
		if err != nil {
			fail(err.Error())
		}
		go func(port string) {
			for {
				conn, err := listener.Accept()
				if err != nil {
					continue
				}
				fmt.Fprintf(conn, "%s:%s\n", host, port)
				conn.Close()
			}
		}(port)
	}
	select {}
}

func connect(address string) string {
	conn, err := net.DialTimeout("tcp", address, probeTimeout)
	if err != nil {
		return verdict(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(probeTimeout))
	reply, err := io.ReadAll(conn)
	if err != nil {
		return verdict(err)
	}
	return "ok " + strings.TrimSpace(string(reply))
}

func lookup(server, name string) string {
	resolver := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "udp", server)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	ips, err := resolver.LookupHost(ctx, name)
	var dnsErr *net.DNSError
	switch {
	case err == nil:
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "nxdomain"
	case errors.As(err, &dnsErr) && !dnsErr.IsTimeout && strings.Contains(dnsErr.Err, "server misbehaving"):
		return "servfail"
	default:
		return verdict(err)
	}
	return "ok " + strings.Join(ips, ",")
}

func verdict(err error) string {
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	case strings.Contains(err.Error(), "i/o timeout"):
		return "timeout"
	default:
		return "error " + err.Error()
	}
}

func need(args []string, n int) {
	if len(args) != n {
		fail(fmt.Sprintf("expected %d argument(s), got %d", n, len(args)))
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "nettool: "+msg)
	os.Exit(2)
}
