/**
 * The bottle CAs: keys strong enough to sign for every host the agent talks to, and a bounded
 * lifetime so a leaked CA stops working.
 */
import type { PolicyConfigSchema, ResourceValidationPolicy } from "@pulumi/policy";
import { TYPES } from "../lib/vocabulary";
import { UNKNOWN, known } from "../lib/props";

/** Default smallest RSA modulus accepted for a CA key. */
const DEFAULT_MIN_RSA_BITS = 2048;
/** ECDSA curves at least as strong as P-256. The tls provider's default curve is P224. */
const ACCEPTED_CURVES: readonly string[] = ["P256", "P384", "P521"];
/** The tls provider's defaults, which apply when the input is omitted. */
const PROVIDER_DEFAULTS = { rsaBits: 2048, ecdsaCurve: "P224" } as const;

/** The config schema of a policy with one integer setting; `fallback` is also what the policy uses when unset. */
function integerSettingSchema(setting: string, minimum: number, fallback: number): PolicyConfigSchema {
  return { properties: { [setting]: { type: "integer", minimum, default: fallback } } };
}

/** Configuration of `ca-key-strength`. */
export interface CaKeyStrengthConfig {
  /** Smallest accepted RSA key size in bits. Defaults to 2048. */
  minRsaBits?: number;
}

/**
 * Every tls PrivateKey (the bottles' CA keys) is RSA >= the configured size (2048), ECDSA on P-256
 * or stronger, or Ed25519.
 */
export const caKeyStrength: ResourceValidationPolicy = {
  name: "ca-key-strength",
  description:
    "Every bottle CA key must be RSA with at least 2048 bits (configurable: minRsaBits), ECDSA on " +
    "P-256 or a stronger curve, or Ed25519. A CA key signs certificates for every host the agent " +
    "reaches through the proxies; a weak one (or the tls provider's default ECDSA curve P224) " +
    "lets whoever breaks it impersonate any of them.",
  enforcementLevel: "mandatory",
  configSchema: integerSettingSchema("minRsaBits", 2048, DEFAULT_MIN_RSA_BITS),
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPES.privateKey) {
      return;
    }
    const minRsaBits = args.getConfig<CaKeyStrengthConfig>().minRsaBits ?? DEFAULT_MIN_RSA_BITS;
    const key = known(() => ({
      algorithm: args.props.algorithm as unknown,
      rsaBits: (args.props.rsaBits as unknown) ?? PROVIDER_DEFAULTS.rsaBits,
      ecdsaCurve: (args.props.ecdsaCurve as unknown) ?? PROVIDER_DEFAULTS.ecdsaCurve,
    }));
    if (key === UNKNOWN) {
      return;
    }
    if (key.algorithm === "RSA") {
      if (typeof key.rsaBits !== "number" || key.rsaBits < minRsaBits) {
        reportViolation(`CA key '${args.name}' is RSA with ${String(key.rsaBits)} bits. Set rsaBits to at least ${minRsaBits}.`);
      }
    } else if (key.algorithm === "ECDSA") {
      if (!ACCEPTED_CURVES.includes(String(key.ecdsaCurve))) {
        reportViolation(
          `CA key '${args.name}' is ECDSA on curve ${String(key.ecdsaCurve)}. Set ecdsaCurve: "P256" ` +
            `(or P384/P521); the provider's default is P224.`,
        );
      }
    } else if (key.algorithm !== "ED25519") {
      reportViolation(
        `CA key '${args.name}' uses algorithm '${String(key.algorithm)}'. Use RSA (>= ${minRsaBits} bits), ` +
          `ECDSA (P256 or stronger) or ED25519.`,
      );
    }
  },
};

/** Default longest accepted CA validity: one year. */
const DEFAULT_MAX_VALIDITY_HOURS = 8760;

/** Configuration of `ca-validity-max`. */
export interface CaValidityMaxConfig {
  /** Longest accepted `validityPeriodHours` of a bottle CA certificate. Defaults to 8760 (1 year). */
  maxValidityHours?: number;
}

/**
 * Every tls SelfSignedCert (the bottles' CA certificates) is valid for at most the configured
 * number of hours (default 8760).
 */
export const caValidityMax: ResourceValidationPolicy = {
  name: "ca-validity-max",
  description:
    "Every bottle CA certificate must be valid for at most maxValidityHours (configurable, default " +
    "8760 = one year). The CA is trusted by the agent and the egress proxy for any host; a bounded " +
    "lifetime limits how long a leaked CA key stays useful and forces regular rotation.",
  enforcementLevel: "mandatory",
  configSchema: integerSettingSchema("maxValidityHours", 1, DEFAULT_MAX_VALIDITY_HOURS),
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPES.selfSignedCert) {
      return;
    }
    const maxHours = args.getConfig<CaValidityMaxConfig>().maxValidityHours ?? DEFAULT_MAX_VALIDITY_HOURS;
    const hours = known(() => args.props.validityPeriodHours as unknown);
    if (hours === UNKNOWN) {
      return;
    }
    if (typeof hours !== "number" || hours > maxHours) {
      reportViolation(
        `CA certificate '${args.name}' is valid for ${String(hours)} hours, more than the allowed ` +
          `${maxHours}. Lower validityPeriodHours (the bottle's CA validity setting) to at most ` +
          `${maxHours}, or raise ca-validity-max's maxValidityHours in the policy pack config.`,
      );
    }
  },
};
