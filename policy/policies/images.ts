/**
 * Image pinning: what runs in a bottle is the exact image that was reviewed, not whatever a tag
 * points at on the day of `pulumi up`.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy, ReportViolation } from "@pulumi/policy";
import { TYPES } from "../lib/vocabulary";
import { UNKNOWN, known } from "../lib/props";
import { kindOf, podContainersOf, podTemplateOf } from "../lib/kubernetes";
import { dockerName, objectName } from "../lib/resources";
import { PRODUCTION_TAG, isProductionStack } from "../lib/production";

const DIGEST_REF = /@sha256:[0-9a-f]{64}$/;
const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

/** True when an image reference names content (`name@sha256:<digest>`, or an image id). */
export function isPinnedByDigest(ref: string): boolean {
  return DIGEST_REF.test(ref) || IMAGE_ID.test(ref);
}

/**
 * Reports every image reference of the resource that is not pinned by digest: a RemoteImage's
 * `name`, a Container's `image` when it is a literal reference, and the `image` of every container
 * of a Kubernetes pod (Deployment, Job, ...). A Container's image that comes
 * from a RemoteImage is unknown during preview; the RemoteImage itself is checked instead.
 */
function checkImagePinned(args: ResourceValidationArgs, reportViolation: ReportViolation): void {
  const refs: { ref: unknown; what: string }[] = [];
  const pod = podTemplateOf(args);
  if (args.type === TYPES.remoteImage) {
    refs.push({ ref: known(() => args.props.name as unknown), what: `Image '${args.name}' pulls` });
  } else if (args.type === TYPES.container) {
    refs.push({ ref: known(() => args.props.image as unknown), what: `Container '${dockerName(args)}' runs` });
  } else if (pod !== undefined && pod !== UNKNOWN) {
    // Every container of a Kubernetes pod: the cluster pulls each image by its reference.
    for (const c of podContainersOf(pod.spec)) {
      refs.push({ ref: c.image, what: `${kindOf(args.type)} '${objectName(args)}' container '${String(c.name)}' runs` });
    }
  }
  for (const { ref, what } of refs) {
    if (ref === UNKNOWN || typeof ref !== "string" || isPinnedByDigest(ref)) {
      continue;
    }
    reportViolation(
      `${what} '${ref}', a mutable tag. Pin it by digest: '${ref.replace(/@.*$/, "")}@sha256:<digest>' ` +
        `(docker buildx imagetools inspect ${ref} prints the digest).`,
    );
  }
}

const WHY =
  "A tag can be moved to a different image at any time, so an unpinned reference means the agent, " +
  "egress proxy or pipelock that runs is not necessarily the one that was reviewed - a silent " +
  "supply-chain change to the very components that enforce the sandbox.";

/**
 * In production stacks every image reference is pinned by digest (mandatory).
 */
export const productionImagesPinnedByDigest: ResourceValidationPolicy = {
  name: "production-images-pinned-by-digest",
  description:
    "In a production stack (stack tag " +
    `${PRODUCTION_TAG.name}=${PRODUCTION_TAG.value}, or a stack named prod/production) every image ` +
    `reference must be pinned by digest (name@sha256:...). ${WHY}`,
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (!isProductionStack(args.stackTags, args.urn)) {
      args.notApplicable("not a production stack; images-pinned-by-digest advises instead");
    }
    checkImagePinned(args, reportViolation);
  },
};

/**
 * Outside production, unpinned images are reported as advice, so dev stacks can follow a tag.
 */
export const imagesPinnedByDigest: ResourceValidationPolicy = {
  name: "images-pinned-by-digest",
  description:
    "Outside production, image references should be pinned by digest (name@sha256:...); this is " +
    `advice so development stacks can follow a tag. ${WHY}`,
  enforcementLevel: "advisory",
  validateResource: (args, reportViolation) => {
    if (isProductionStack(args.stackTags, args.urn)) {
      args.notApplicable("production stack; production-images-pinned-by-digest enforces instead");
    }
    checkImagePinned(args, reportViolation);
  },
};
