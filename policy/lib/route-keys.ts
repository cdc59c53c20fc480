/**
 * Every key a route of routes.yaml may have, each with the policies that judge it or why none
 * needs to. The pack refuses a route with any other key (`routes-keys-known`): a key it has never
 * seen may allow what none of its policies look at. test/contract/route-keys.test.ts holds this
 * table to the package's route contract, so a new route option needs a line here: a decision.
 */
import { isRecord } from "./props";

/** A key whose value is a mapping of the keys listed under it (`<key>.<sub-key>`). */
const ITS_KEYS = "its keys";

export const ROUTE_KEYS_JUDGED: Readonly<Record<string, string>> = {
  host: "routes-no-broad-wildcards, gates-allow-same-hosts",
  ports: "not judged: which ports of a host the other policies bound",
  methods: "not judged: which methods on a host the other policies bound",
  path_allowlist: "not judged: it only narrows a route",
  auth: ITS_KEYS,
  "auth.header": "not judged: where the credential goes (its value: credentials-are-secret)",
  "auth.prefix": "not judged: what precedes the credential in its header",
  "auth.basic_username": "not judged: the user name sent with the credential",
  "auth.sigv4": ITS_KEYS,
  "auth.sigv4.service": "not judged: the AWS service the request is signed for (the route's host bounds where it goes)",
  "auth.sigv4.region": "not judged: the AWS region the request is signed for",
  "auth.token": "not judged: the token's name (its value: credentials-are-secret)",
  "auth.token_env": "production-prefer-expiring-credentials (a static token never expires)",
  "auth.credential": "production-prefer-expiring-credentials, production-github-app-narrowed (the source it names)",
  insecure_cleartext_ports: "credentials-only-over-tls",
  git: ITS_KEYS,
  "git.repositories": "not judged: it only narrows a route to named repositories",
  "git.push": "production-git-push-names-refs, git-push-deletes-and-tags-reviewed (true: every ref, deletes and tags)",
  "git.push.refs": "production-git-push-names-refs",
  "git.push.create": "not judged: creating a branch within the refs the route names",
  "git.push.delete": "git-push-deletes-and-tags-reviewed",
  "git.push.tags": "git-push-deletes-and-tags-reviewed",
  bulk: "production-bulk-lane-reviewed",
};

/** The dotted keys of a routes.yaml route that the table does not list. */
export function unknownRouteKeys(route: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(route).flatMap(([key, value]) => {
    const path = `${prefix}${key}`;
    if (ROUTE_KEYS_JUDGED[path] === undefined) {
      return [path];
    }
    return isRecord(value) ? unknownRouteKeys(value, `${path}.`) : [];
  });
}
