import * as pulumi from "@pulumi/pulumi";
import { RESOURCE_TYPES } from "../../../../components/vocabulary";

/** A key routes.yaml does not have: the egress proxy refuses a document with it. */
export const REFUSED_KEY = "refused_by_the_egress_proxy";

// Registered before the program declares anything (program.ts imports this first). With the
// stack config `live:refuse` true, every egress proxy's ConfigMap holds its document plus a key
// the egress proxy refuses; the wait still expects the document the program rendered.
if (new pulumi.Config("live").getBoolean("refuse")) {
  pulumi.runtime.registerResourceTransform((args) =>
    args.type === RESOURCE_TYPES.k8sConfigMap && args.name.endsWith("-egress-proxy-config")
      ? {
          props: {
            ...args.props,
            data: Object.fromEntries(
              Object.entries(args.props.data as Record<string, string>).map(([file, text]) => [file, `${text}${REFUSED_KEY}: true\n`]),
            ),
          },
          // As the provider replaces a named object (a transform's options are taken as they are).
          opts: { ...args.opts, deleteBeforeReplace: true },
        }
      : undefined,
  );
}
