/**
 * A bottle's credential sources as the egress proxy reads them: routes.yaml `credentials`.
 */
import type { CredentialsInput } from "../config";
import { githubAppNarrowing, sourceOf, sourcesOf } from "../config";

/** routes.yaml's `credentials`: each source with the variables of its secrets and, for a GitHub App, its narrowing. */
export function renderedCredentials(bottle: CredentialsInput, tokenEnv: ReadonlyMap<string, string>): Record<string, object> {
  const env = (entry: string) => tokenEnv.get(entry)!;
  return Object.fromEntries(
    sourcesOf(bottle).map(([name, source]) => {
      if (source.githubApp) {
        const app = source.githubApp;
        const narrowing = githubAppNarrowing(bottle.routes.filter((route) => sourceOf(route, bottle) === name));
        return [
          name,
          {
            kind: "github_app",
            app_id: app.appId,
            installation_id: app.installationId,
            api_url: app.apiUrl,
            private_key_env: env(app.privateKey),
            ...narrowing,
          },
        ];
      }
      if (source.aws) {
        const { role } = source.aws;
        return [
          name,
          {
            kind: "aws",
            access_key_id_env: env(source.aws.accessKeyId),
            secret_access_key_env: env(source.aws.secretAccessKey),
            ...(role && { role_arn: role.arn, sts_url: role.stsUrl, sts_region: role.stsRegion, session_seconds: role.sessionSeconds }),
          },
        ];
      }
      const google = source.googleServiceAccount!;
      return [name, { kind: "google_service_account", key_env: env(google.key), scopes: google.scopes, token_url: google.tokenUrl }];
    }),
  );
}
