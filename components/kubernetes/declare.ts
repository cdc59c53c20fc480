import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { fileContent, tokensFile } from "../backend/contents";
import { type CertificateAuthority, createCa } from "../ca/ca";
import type { KubernetesClusterSpec } from "../config";
import { DEFAULT_PRIVATE_CIDRS, DEFAULT_WORKSPACE_SIZE_GB } from "../config";
import { KUBERNETES_NAMES, LABEL_KEYS } from "../vocabulary";
import type { BottleLayout, CaRole, Labels, Mount, Workload, WorkloadRole } from "../layout/types";
import { declareLiveWait } from "./live-wait/live-wait";
import { podMonitorSpec } from "./pod-monitor";
import { fileKey, type HostAlias, podSpecOf, scrapeAnnotations } from "./pods";
import { networkPolicies } from "./policies";
import { createSelfTestJob } from "./self-test";

/** What the Kubernetes backend needs besides the layout. */
export interface KubernetesInputs {
  /** Token values by name (every token the layout references). Wrapped as secrets here. */
  tokens: Readonly<Record<string, pulumi.Input<string>>>;
  cluster: KubernetesClusterSpec;
}

/** The Kubernetes objects of one bottle. */
export interface KubernetesBottle {
  cas: Record<CaRole, CertificateAuthority>;
  namespace: k8s.core.v1.Namespace;
  deployments: Partial<Record<WorkloadRole, k8s.apps.v1.Deployment>>;
}

/**
 * A namespace name for a bottle: `<stack>-<bottle>`, a DNS label (at most 63 characters), or
 * undefined when the stack's name cannot make one.
 */
export function namespaceName(stack: string, bottle: string): string | undefined {
  const name = `${stack}-${bottle}`;
  return /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name) ? name : undefined;
}

/**
 * Declares a bottle's layout on a Kubernetes cluster: a namespace of its own (Pod Security
 * "restricted" enforced), network policies that deny everything but the layout's paths
 * (declared before any pod), the CAs and files as Secrets, each live configuration as a
 * ConfigMap (the document, plain so a preview diffs it) and a Secret (its tokens), a Service
 * per workload that serves, a Deployment per workload in start order, the workspace claim, and
 * the self-test Job. Resource names are `<name>-<role>`; object names are the roles.
 */
export function declareOnKubernetes(
  name: string,
  layout: BottleLayout,
  inputs: KubernetesInputs,
  opts: { parent: pulumi.Resource; provider?: k8s.Provider },
): KubernetesBottle {
  const { parent } = opts;
  const namespaceId = namespaceName(layout.stack, layout.bottle);
  if (namespaceId === undefined) {
    throw new pulumi.RunError(
      `bottle "${layout.bottle}": "${layout.stack}-${layout.bottle}" cannot name a Kubernetes namespace (lowercase letters, digits and ` +
        "'-', at most 63 characters): rename the stack or the bottle",
    );
  }
  const bottleLabels = { [LABEL_KEYS.stack]: layout.stack, [LABEL_KEYS.bottle]: layout.bottle };
  const namespace = new k8s.core.v1.Namespace(
    `${name}-namespace`,
    {
      metadata: {
        name: namespaceId,
        labels: {
          ...bottleLabels,
          // The API server refuses any pod that is not hardened, whatever declares it.
          [KUBERNETES_NAMES.podSecurityEnforceLabel]: KUBERNETES_NAMES.podSecurityLevel,
          "pod-security.kubernetes.io/enforce-version": "latest",
        },
      },
    },
    // A kept workspace claim lives in the namespace: destroy leaves both on the cluster.
    { ...opts, retainOnDelete: layout.workloads.some((w) => w.mounts.some((m) => "volume" in m.source && m.source.volume.keep)) },
  );
  const inNamespace = { ...opts, dependsOn: [namespace] };
  const meta = (object: string, labels: Labels = bottleLabels) => ({
    name: object,
    namespace: namespace.metadata.name,
    labels: { ...labels },
  });

  const policies = networkPolicies(layout, {
    privateCidrs: inputs.cluster.privateCidrs ?? DEFAULT_PRIVATE_CIDRS,
    ...(inputs.cluster.metrics && { scraperNamespace: inputs.cluster.metrics.scraperNamespace }),
  }).map(
    (policy) =>
      new k8s.networking.v1.NetworkPolicy(`${name}-policy-${policy.name}`, { metadata: meta(policy.name), spec: policy.spec }, inNamespace),
  );
  const cas = Object.fromEntries(layout.cas.map((ca) => [ca.role, createCa(`${name}-${ca.role}-ca`, ca, { parent })])) as Record<
    CaRole,
    CertificateAuthority
  >;

  const services: Partial<Record<WorkloadRole, k8s.core.v1.Service>> = {};
  for (const workload of layout.workloads.filter((w) => w.serves)) {
    const ports = workload.serves!.ports.map(({ name: portName, port }) => ({ name: portName, port, targetPort: port, protocol: "TCP" }));
    services[workload.role] = new k8s.core.v1.Service(
      `${name}-${workload.role}-service`,
      { metadata: meta(workload.role, workload.labels), spec: { selector: selectorLabels(workload), ports } },
      inNamespace,
    );
  }
  const reloaderImage = imageOf(layout.workloads.find((w) => w.role === "egress-proxy"));

  const deployments: Partial<Record<WorkloadRole, k8s.apps.v1.Deployment>> = {};
  for (const workload of layout.workloads) {
    const resourceName = `${name}-${workload.role}`;
    const ready: pulumi.Resource[] = [...policies];
    const filesSecret =
      workload.files.length > 0
        ? new k8s.core.v1.Secret(
            `${resourceName}-files`,
            {
              metadata: meta(`${workload.role}-files`, workload.labels),
              type: "Opaque",
              stringData: Object.fromEntries(workload.files.map((file, i) => [fileKey(i), fileContent(file, cas)])),
            },
            inNamespace,
          )
        : undefined;
    if (filesSecret) ready.push(filesSecret);
    const live = workload.live && declareLive(resourceName, workload, inputs.tokens, meta, inNamespace);
    if (live) ready.push(...live.resources);
    const claims: Record<string, string> = {};
    for (const mount of workload.mounts) {
      const claim = declareClaim(name, mount, inputs.cluster, meta, inNamespace);
      ready.push(claim.resource);
      claims[mount.path] = claim.name;
    }
    // The names this workload reaches others by, in /etc/hosts: no DNS needed to find them.
    // Only their addresses are unknown before `up`: a preview shows the rest of the pod.
    const servers = layout.workloads.filter((w) => w.serves?.clients.includes(workload.role));
    const podSpec = podSpecOf(workload, {
      image: imageOf(workload),
      ...(filesSecret && { filesSecret: `${workload.role}-files` }),
      ...(servers.length > 0 && { hostAliases: hostAliasesOf(servers.map((server) => serviceAddress(services[server.role]!, server))) }),
      ...(live && { live: { configMap: live.configMap, ...(live.secret && { secret: live.secret.name }), reloaderImage } }),
      claims,
    });
    deployments[workload.role] = new k8s.apps.v1.Deployment(
      resourceName,
      {
        metadata: meta(workload.role, workload.labels),
        spec: {
          replicas: 1,
          selector: { matchLabels: selectorLabels(workload) },
          // A gate's replacement starts and serves first; the agent's waits for its claim.
          strategy: workload.handover ? { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } : { type: "Recreate" },
          template: {
            metadata: {
              labels: { ...workload.labels },
              ...(workload.metrics && { annotations: scrapeAnnotations(workload.metrics.port) }),
            },
            spec: podSpec,
          },
        },
      },
      { ...inNamespace, dependsOn: [namespace, ...ready, ...workload.after.map((role) => deployments[role]!), ...Object.values(services)] },
    );
    if (live) {
      // `up` returns once the gate's pods have loaded the document, not when kubelet gets to it.
      declareLiveWait(
        resourceName,
        {
          stack: layout.stack,
          bottle: layout.bottle,
          role: workload.role,
          namespace: namespace.metadata.name,
          selector: selectorLabels(workload),
          objects: [`configmap/${live.configMap}`, ...(live.secret ? [`secret/${live.secret.name}`] : [])],
          document: workload.live!.document.text,
          ...(live.secret && { tokensVersion: live.secret.resource.metadata.resourceVersion }),
          cluster: inputs.cluster,
        },
        { parent, dependsOn: [...live.resources, deployments[workload.role]!] },
      );
    }
  }

  if (inputs.cluster.metrics?.podMonitor) {
    new k8s.apiextensions.CustomResource(
      `${name}-pod-monitor`,
      { apiVersion: "monitoring.coreos.com/v1", kind: "PodMonitor", metadata: meta("gates"), spec: podMonitorSpec(layout) },
      inNamespace,
    );
  }

  if (layout.selfTest) {
    const probe = layout.workloads.find((w) => w.role === layout.selfTest!.probeImage);
    const proxy = layout.workloads.find((w) => w.role === layout.selfTest!.proxy.role)!;
    createSelfTestJob(
      `${name}-self-test`,
      {
        layout,
        namespace: namespace.metadata.name,
        labels: bottleLabels,
        image: imageOf(probe),
        proxyAlias: serviceAddress(services[proxy.role]!, proxy),
        deployments: Object.values(deployments),
      },
      { ...inNamespace, dependsOn: [...Object.values(deployments), ...policies] },
    );
  }
  return { cas, namespace, deployments };
}

/** The live configuration: a ConfigMap with the document, a Secret with the tokens, mounted together. */
function declareLive(
  resourceName: string,
  workload: Workload,
  tokens: KubernetesInputs["tokens"],
  meta: (object: string, labels?: Labels) => k8s.types.input.meta.v1.ObjectMeta,
  opts: pulumi.CustomResourceOptions,
) {
  const live = workload.live!;
  const configMapName = `${workload.role}-config`;
  const configMap = new k8s.core.v1.ConfigMap(
    `${resourceName}-config`,
    { metadata: meta(configMapName, workload.labels), data: { [live.document.file]: live.document.text } },
    opts,
  );
  const secretName = `${workload.role}${KUBERNETES_NAMES.tokensSecretSuffix}`;
  const secret =
    live.tokens &&
    new k8s.core.v1.Secret(
      `${resourceName}-tokens`,
      {
        metadata: meta(secretName, workload.labels),
        type: "Opaque",
        stringData: { [live.tokens.file]: tokensFile(live.tokens.variables, tokens) },
      },
      opts,
    );
  return {
    configMap: configMapName,
    ...(secret && { secret: { name: secretName, resource: secret } }),
    resources: secret ? [configMap, secret] : [configMap],
  };
}

/** A workspace's claim (`workspace`), kept by destroy or protected as the layout says. */
function declareClaim(
  name: string,
  mount: Mount,
  cluster: KubernetesClusterSpec,
  meta: (object: string, labels?: Labels) => k8s.types.input.meta.v1.ObjectMeta,
  opts: pulumi.CustomResourceOptions,
): { name: string; resource: k8s.core.v1.PersistentVolumeClaim } {
  if ("hostPath" in mount.source) {
    throw new pulumi.RunError(
      `${mount.path}: a host directory cannot be mounted on Kubernetes (Pod Security "restricted"); remove workspace.hostPath to use a claim`,
    );
  }
  const { volume } = mount.source;
  const role = volume.labels[LABEL_KEYS.role]!;
  const resource = new k8s.core.v1.PersistentVolumeClaim(
    `${name}-${role}`,
    {
      metadata: meta(role, volume.labels),
      spec: {
        accessModes: ["ReadWriteOnce"],
        ...(cluster.storageClass !== undefined && { storageClassName: cluster.storageClass }),
        resources: { requests: { storage: `${cluster.workspaceSizeGb ?? DEFAULT_WORKSPACE_SIZE_GB}Gi` } },
      },
    },
    // Kept: destroy forgets the claim (and its namespace) and leaves them on the cluster.
    { ...opts, retainOnDelete: volume.keep, protect: volume.protect },
  );
  return { name: role, resource };
}

/** The Service's address under the workload's aliases, for /etc/hosts. */
/**
 * The /etc/hosts entries of a pod, as one value. A preview of a new Service has no address yet
 * (the provider leaves `clusterIP` out), and entries without one share the empty key the list
 * merges by, which the provider's preview refuses: a preview shows only the entries whose
 * address is known. At `up` every address is known, and one that is not fails the deployment.
 */
function hostAliasesOf(aliases: HostAlias[]): pulumi.Output<HostAlias[]> {
  return pulumi.all(aliases).apply((resolved) => {
    const addressed = resolved.filter((alias) => typeof alias.ip === "string" && alias.ip !== "");
    if (addressed.length < resolved.length && !pulumi.runtime.isDryRun()) {
      const missing = resolved.filter((alias) => !addressed.includes(alias)).flatMap((alias) => alias.hostnames);
      throw new pulumi.RunError(`the Services of ${missing.join(", ")} have no cluster IP: a bottle's Services must be of type ClusterIP`);
    }
    return addressed;
  });
}

function serviceAddress(service: k8s.core.v1.Service, workload: Workload): HostAlias {
  return { ip: service.spec.clusterIP, hostnames: [...new Set(workload.attachments.flatMap((a) => a.aliases))] };
}

/** The labels a Deployment selects its pods by: never the ones that change (the selector is immutable). */
function selectorLabels(workload: Workload): Record<string, string> {
  return Object.fromEntries([LABEL_KEYS.stack, LABEL_KEYS.bottle, LABEL_KEYS.role].map((key) => [key, workload.labels[key]!]));
}

function imageOf(workload: Workload | undefined): string {
  if (workload === undefined) throw new Error("the layout has no egress proxy, whose image the Kubernetes backend runs its helpers on");
  if (!("reference" in workload.image)) {
    throw new pulumi.RunError(
      `the "${workload.role}" workload has no image reference: on Kubernetes every image is a reference (validation requires it)`,
    );
  }
  return workload.image.reference;
}
