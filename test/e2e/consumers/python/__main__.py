"""A program that is not bot-bottle's: one bottle, declared with the SDK `pulumi package add` generated."""

import pulumi
import pulumi_bot_bottle as bot_bottle

config = pulumi.Config()
gate = bot_bottle.BottleStack(
    "gate",
    routes=[
        bot_bottle.RouteArgs(
            host=config.require("host"),
            methods=[bot_bottle.HttpMethod.GET],
            paths=["/simple/"],
            insecure_cleartext_ports=config.get_object("insecureCleartextPorts"),
        ),
        bot_bottle.RouteArgs(
            host="api.github.com",
            methods=[bot_bottle.HttpMethod.GET],
            auth=bot_bottle.RouteAuthArgs(header="Authorization", prefix="Bearer ", token="github"),  # noqa: S106 (a token's name)
        ),
    ],
    tokens={"github": config.require_secret("githubToken")},
    agent=bot_bottle.AgentArgs(image=config.require("agentImage"), command=["sleep", "infinity"]),
    max_body_mb=config.get_int("maxBodyMb"),
    pipelock=bot_bottle.PipelockArgs(image=config.require("pipelockImage")),
)

pulumi.export("proxy_url", gate.proxy_url)
pulumi.export("routes_yaml", gate.routes_yaml)
