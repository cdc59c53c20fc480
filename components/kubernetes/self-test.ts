import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { EGRESS_PROXY_PYTHON } from "../egress-proxy/workload";
import { LABEL_KEYS, TESTED_DEPLOYMENTS_ANNOTATION } from "../vocabulary";
import type { BottleLayout, Labels } from "../layout/types";
import { SELF_TEST_PROBE } from "../self-test/probe";
import { type HostAlias, NO_DNS } from "./pods";
import { SELF_TEST_ROLE } from "./policies";

/** The uid the probe runs as: nobody, which owns nothing in the pod. */
const PROBE_UID = 65534;

export interface SelfTestJobArgs {
  layout: BottleLayout;
  namespace: pulumi.Input<string>;
  labels: Labels;
  /** An image with the egress proxy's Python. */
  image: string;
  /** The egress proxy's Service address under its alias, as the agent has it in /etc/hosts. */
  proxyAlias: HostAlias;
  /** A new generation of any of them runs the test again. */
  deployments: k8s.apps.v1.Deployment[];
}

/**
 * The self-test on Kubernetes: a Job whose pod the agent's network policy governs (its role is
 * `self-test`), with the agent's resolver, running the probe (probe.py). Pulumi waits for it to
 * succeed, so a leak fails the deployment; a change of any Deployment replaces the Job, which
 * runs the probe again.
 */
export function createSelfTestJob(name: string, args: SelfTestJobArgs, opts: pulumi.CustomResourceOptions): k8s.batch.v1.Job {
  const generations = pulumi.all(args.deployments.map((d) => pulumi.interpolate`${d.metadata.name}@${d.metadata.generation}`));
  return new k8s.batch.v1.Job(
    name,
    {
      metadata: { name: SELF_TEST_ROLE, namespace: args.namespace, labels: { ...args.labels, [LABEL_KEYS.role]: SELF_TEST_ROLE } },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: 120,
        template: {
          metadata: {
            labels: { ...args.labels, [LABEL_KEYS.role]: SELF_TEST_ROLE },
            annotations: { [TESTED_DEPLOYMENTS_ANNOTATION]: generations.apply((g) => g.join(" ")) },
          },
          spec: {
            restartPolicy: "Never",
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            ...NO_DNS,
            hostAliases: [args.proxyAlias],
            securityContext: {
              runAsUser: PROBE_UID,
              runAsGroup: PROBE_UID,
              runAsNonRoot: true,
              seccompProfile: { type: "RuntimeDefault" },
            },
            containers: [
              {
                name: "probe",
                image: args.image,
                imagePullPolicy: "IfNotPresent",
                command: [EGRESS_PROXY_PYTHON, "-c", SELF_TEST_PROBE],
                env: [
                  { name: "BOTTLE_PROXY_URL", value: args.layout.proxyUrl },
                  // A denied connection is refused by the policy: only what listens tells.
                  { name: "BOTTLE_POLICY_REJECTS", value: "1" },
                  { name: "NODE_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
                  { name: "BOTTLE_LISTENING", value: "$(NODE_IP):10250" },
                ],
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                },
                resources: { requests: { memory: "64Mi", cpu: "50m" }, limits: { memory: "64Mi" } },
              },
            ],
          },
        },
      },
    },
    { ...opts, deleteBeforeReplace: true, replaceOnChanges: ["spec"] },
  );
}
