/**
 * The documented interfaces (args.ts) and the schema's input types (schema.ts) describe the
 * same shapes: these lines fail to compile when one changes without the other. A file of its
 * own, so that neither of the two imports the other (schema.ts takes args.ts's closed sets of
 * values).
 */
import type {
  Agent,
  AwsSource,
  BottleArgs,
  CredentialSource,
  DockerEngine,
  GithubAppSource,
  GoogleServiceAccountSource,
  KubernetesCluster,
  PipelockSettings,
  Route,
  RouteAuth,
  RouteGit,
  Workspace,
} from "./args";
import type { SchemaInputs } from "./schema";

// Each assignable to the other, and the same keys at every depth: assignability alone lets
// either side add an optional key the other lacks.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? SameKeys<A, B> : false) : false;
type SameKeys<A, B> = [A] extends [readonly (infer X)[]]
  ? [B] extends [readonly (infer Y)[]]
    ? SameKeys<X, Y>
    : false
  : [A] extends [object]
    ? [Keys<A>] extends [Keys<B>]
      ? [Keys<B>] extends [Keys<A>]
        ? { [K in Keys<A>]-?: SameKeys<NonNullable<A[K]>, NonNullable<B[K & keyof B]>> }[Keys<A>] extends true
          ? true
          : false
        : false
      : false
    : true;
// String keys: an interface's index signature also has number keys, a zod record's does not.
type Keys<T> = Extract<keyof T, string>;
const sameShapes: [
  Same<BottleArgs, SchemaInputs["bottle"]>,
  Same<Route, SchemaInputs["route"]>,
  Same<RouteAuth, SchemaInputs["auth"]>,
  Same<RouteGit, SchemaInputs["git"]>,
  Same<Agent, SchemaInputs["agent"]>,
  Same<Workspace, SchemaInputs["workspace"]>,
  Same<PipelockSettings, SchemaInputs["pipelockSettings"]>,
  Same<DockerEngine, SchemaInputs["dockerEngine"]>,
  Same<KubernetesCluster, SchemaInputs["kubernetesCluster"]>,
  Same<CredentialSource, SchemaInputs["credentialSource"]>,
  Same<GithubAppSource, SchemaInputs["githubApp"]>,
  Same<AwsSource, SchemaInputs["aws"]>,
  Same<GoogleServiceAccountSource, SchemaInputs["googleServiceAccount"]>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true];
void sameShapes;
