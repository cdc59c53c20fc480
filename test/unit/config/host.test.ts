import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { routeHostProblem } from "../../../components/config";

describe("routeHostProblem", () => {
  const accepted = ["api.github.com", "localhost", "a-b.example.co.uk", "*.example.com", "*.s3.amazonaws.com", "xn--bcher-kva.example"];
  for (const host of accepted) {
    test(`accepts ${host}`, () => assert.equal(routeHostProblem(host), undefined));
  }

  const rejected: [string, RegExp][] = [
    ["", /must not be empty/],
    ["https://api.github.com", /not a URL/],
    ["api.github.com/repos", /not a URL/],
    ["api.github.com:443", /without a port/],
    ["API.github.com", /expected lowercase \("api.github.com"\)/],
    ["*", /bare "\*" would allow every host/],
    ["*.com", /covers a whole top-level domain/],
    ["a.*.example.com", /only wildcard form/],
    ["*example.com", /only wildcard form/],
    ["**.example.com", /only wildcard form/],
    ["api.github.com.", /no trailing dot/],
    ["-bad.example.com", /not a valid DNS label/],
    ["a..example.com", /"\(empty\)" is not a valid DNS label/],
    ["under_score.example.com", /not a valid DNS label/],
    ["bücher.example", /punycode/],
    ["1.2.3.999", /numeric address/],
    ["2130706433", /numeric address/],
    ["10.0.0.1", /IP literal "10.0.0.1" is not supported/],
    ["::1", /IP literal/],
    ["[::1]", /IP literal "\[::1\]" is not supported/],
    [`${"a".repeat(64)}.example.com`, /not a valid DNS label/],
  ];
  for (const [host, message] of rejected) {
    test(`rejects ${JSON.stringify(host)}`, () => {
      assert.match(routeHostProblem(host) ?? "(accepted)", message);
    });
  }
});
