import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pathPrefixProblem } from "../../../components/config";

describe("pathPrefixProblem", () => {
  for (const path of ["/", "/user", "/repos/acme/", "/v1/messages", "/a-b_c~d/e.json", "/a%20b"]) {
    test(`accepts ${path}`, () => assert.equal(pathPrefixProblem(path), undefined));
  }
  const rejected: [string, RegExp][] = [
    ["user", /starting with "\/"/],
    ["", /starting with "\/"/],
    ["/a/../b", /"\.\." or "\." segments/],
    ["/a..b", /"\.\." or "\." segments/],
    ["/a/./b", /"\.\." or "\." segments/],
    ["/search?q=1", /"\?": the query is never part of the match/],
    ["/page#top", /must not contain "#"/],
    ["/a\\b", /must not contain "\\"/],
    ["/a;jsessionid=1", /must not contain ";"/],
    ["/a//b", /must not contain "\/\/"/],
    ["/a b", /printable ASCII/],
    ["/caf\u00e9", /printable ASCII/],
    ["/a\tb", /printable ASCII/],
    ["/a%2Fb", /percent-encode/],
    ["/a%2e%2e/b", /percent-encode/],
    ["/a%5cb", /percent-encode/],
    ["/a%25b", /percent-encode/],
    ["/a%00b", /percent-encode/],
  ];
  for (const [path, message] of rejected) {
    test(`rejects ${JSON.stringify(path)}`, () => assert.match(pathPrefixProblem(path) ?? "(accepted)", message));
  }
});
