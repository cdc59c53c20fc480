/** The egress proxies of a stack with their routes, and the test that makes a policy production-only. */
import { ROLES } from "./vocabulary";
import { UNKNOWN } from "./props";
import { type ResourceView, workloadsWithRole } from "./resources";
import { isProductionStack } from "./production";
import { routesOf } from "./documents";

/** Each egress proxy of the stack with its routes.yaml read (those not known yet, or unreadable, are other policies' to report). */
export function proxiesWithRoutes(
  resources: readonly ResourceView[],
): { proxy: ResourceView; path: string; routes: Record<string, unknown>[] }[] {
  return workloadsWithRole(resources, ROLES.egressProxy).flatMap((proxy) => {
    const routes = routesOf({ container: proxy, resources });
    return routes === UNKNOWN || "error" in routes ? [] : [{ proxy, path: routes.path, routes: routes.value }];
  });
}

/** Declares a production-only policy not applicable elsewhere (the stack read from its egress proxies' URNs). */
export function productionOnly(
  args: { resources: readonly ResourceView[]; stackTags: ReadonlyMap<string, string>; notApplicable: (reason?: string) => never },
  reason = "not a production stack",
): void {
  const proxies = workloadsWithRole(args.resources, ROLES.egressProxy);
  if (proxies.length === 0 || !isProductionStack(args.stackTags, proxies[0]!.urn)) {
    args.notApplicable(reason);
  }
}
