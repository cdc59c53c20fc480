// The pack's entry point for `pulumi preview --policy-pack ./policy`. Constructing the PolicyPack
// starts the analyzer's gRPC server, so nothing else lives here: the policies are in ./policies.
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("bot-bottle", { policies });
