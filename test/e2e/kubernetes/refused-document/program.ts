/**
 * The REAL program (infra/index.ts), whose egress proxies' ConfigMaps hold a document the egress
 * proxy refuses when the stack config `live:refuse` is true (transform.ts): how `up` fails when a
 * gate refuses what it is given (kubernetes/live.test.ts). Without it the program is unchanged.
 */
import "./transform";
export * from "../../../../infra/index";
