// A program that is not bot-bottle's: it installs the packed package and declares one bottle.
import * as pulumi from "@pulumi/pulumi";
import { BottleStack } from "bot-bottle";

const config = new pulumi.Config();
const bottle = new BottleStack("solo", {
  routes: [
    {
      host: "api.github.com",
      methods: ["GET"],
      paths: ["/repos/acme/"],
      auth: { header: "Authorization", prefix: "Bearer ", token: "github" },
    },
  ],
  tokens: { github: config.requireSecret("githubToken") },
  // keep: false, so destroy takes the workspace with it (the default keeps it).
  agent: { image: config.require("agentImage"), command: ["sleep", "infinity"], workspace: { keep: false } },
  pipelock: { image: config.require("pipelockImage") },
});

export const objectNames = bottle.objectNames;
export const proxyUrl = bottle.proxyUrl;
export const routesYaml = bottle.routesYaml;
