// Drives chromium through modvault's web UI: node ui.mjs BASE_URL.
// Environment: CHROMIUM (the browser), ALICE_PASSWORD, USER_DATA_ROOT (a
// new directory for the browser profiles), SCREENSHOTS (a directory for
// PNGs of the main pages, or empty). Exits non-zero on the first failed
// check; prints "ok: all checks passed" at the end.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";

const base = process.argv[2];
const shots = process.env.SCREENSHOTS || "";
const pub = "example.com/pub";
const secret = "corp.example/team/secret";
const vuln = "example.com/vuln";

function check(cond, what) {
  if (!cond) {
    throw new Error("check failed: " + what);
  }
  console.log("ok: " + what);
}

// open starts chromium with a new profile; opts go to the context.
async function open(opts = {}) {
  const dir = mkdtempSync(join(process.env.USER_DATA_ROOT, "profile-"));
  return chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
    ...opts,
  });
}

async function shot(page, name, fullPage = true) {
  if (shots) {
    await page.screenshot({ path: join(shots, name + ".png"), fullPage });
  }
}

// Anonymous visitor.
{
  const ctx = await open();
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = ctx.pages()[0] || (await ctx.newPage());
  const csp = [];
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });

  let resp = await page.goto(base + "/ui/");
  check(resp.status() === 200, "/ui/ answers 200");
  check(/default-src 'none'/.test(resp.headers()["content-security-policy"] || ""), "/ui/ has the CSP header");
  const settings = await page.locator("#settings").textContent();
  check(settings.includes("GOPROXY=" + base + "/"), "/ui/ shows GOPROXY for this server: " + settings.split("\n")[0]);
  check(settings.includes("GONOSUMDB=corp.example") && settings.includes("GOAUTH=netrc"), "/ui/ shows GONOSUMDB and GOAUTH");
  check(!(await page.content()).includes(secret), "/ui/ does not name the private module to an anonymous visitor");
  check(await page.locator("button[data-copy=settings]").isVisible(), "the copy button is shown with JavaScript on");
  await shot(page, "home");

  // Keyboard: the first Tab reaches the skip link, which moves the focus to the content.
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement.classList.contains("skip")), "Tab focuses the skip link first");
  await page.keyboard.press("Enter");
  check(await page.evaluate(() => document.activeElement.id === "main"), "the skip link moves the focus to the content");

  // Search, with the keyboard.
  await page.locator("#q").focus();
  await page.keyboard.type("PUB");
  await Promise.all([page.waitForURL(/\/ui\/search\?q=PUB$/), page.keyboard.press("Enter")]);
  check(await page.locator("table.modules a", { hasText: pub }).count() === 1, "searching PUB finds " + pub);
  await shot(page, "search");
  await page.goto(base + "/ui/search?q=corp");
  check(await page.locator("table.modules").count() === 0, "searching corp finds nothing for an anonymous visitor");

  // The module, then a version.
  await page.goto(base + "/ui/search?q=pub");
  await Promise.all([page.waitForURL(base + "/ui/" + pub), page.locator("table.modules a", { hasText: pub }).click()]);
  const rows = await page.locator("table.versions tbody tr td:first-child").allTextContents();
  check(rows.join(" ") === "v1.2.0 v1.1.0 v1.0.0", "the module page lists its versions newest first: " + rows.join(" "));
  check(await page.locator("tr.retracted", { hasText: "v1.0.0" }).count() === 1, "v1.0.0 is marked retracted");
  check((await page.locator("tr.retracted").textContent()).includes("Parse <b>panics</b>"), "the retraction's rationale is shown as text");
  check(await page.locator("tr", { hasText: "v1.2.0" }).locator(".tag.latest").count() === 1, "v1.2.0 is marked latest");
  const denied = await page.locator("tr.retracted .verdict.deny").count() === 1 ? await page.locator("tr.retracted").textContent() : "";
  check(denied.includes("Parse panics on empty input: use v1.1.0 or later (policy-rule deny example.com/pub v1.0.0)"),
    "v1.0.0's policy column says deny, with the rule's reason");
  check(await page.locator("tr", { hasText: "v1.1.0" }).locator(".verdict.allow").count() === 1, "v1.1.0's policy column says allow");
  await shot(page, "module");

  await Promise.all([page.waitForURL(base + "/ui/" + pub + "@v1.1.0"), page.locator("a", { hasText: /^v1\.1\.0$/ }).click()]);
  const gosum = await page.locator("#gosum-lines").textContent();
  check(/^example\.com\/pub v1\.1\.0 h1:\S+=\nexample\.com\/pub v1\.1\.0\/go\.mod h1:\S+=\n$/.test(gosum), "the version page shows both go.sum lines");
  await page.locator("button[data-copy=gosum-lines]").click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied === gosum, "Copy puts the go.sum lines on the clipboard");
  check((await page.locator("svg.chart rect").count()) === 30, "the downloads chart has a bar per day");
  check((await page.locator("svg.chart").getAttribute("aria-label")).includes("2 in all"), "the chart counts the 2 downloads");
  check(await page.locator("#verify + p").textContent().then((s) => s.startsWith("Verified in the checksum database")), "the version was verified");
  await page.goto(base + "/ui/" + pub + "@v1.2.0");
  check(await page.locator("ul.requires a", { hasText: "example.com/dep v1.0.0" }).count() === 1, "the go.mod's requirement is a link");

  // A vulnerable version, stored before the policy: its license, the
  // vulnerability (linked) and the policy's verdict.
  await page.goto(base + "/ui/" + vuln);
  await Promise.all([page.waitForURL(base + "/ui/" + vuln + "@v1.2.3"), page.locator("a", { hasText: /^v1\.2\.3$/ }).click()]);
  check((await page.locator("section[aria-labelledby=licenses] li").allTextContents()).join("; ") === "MIT (LICENSE)", "the version page shows its MIT license");
  const link = page.locator("ul.vulns li.bad a");
  check(await link.textContent() === "GO-2099-0001" && await link.getAttribute("href") === "https://example.com/vuln/GO-2099-0001",
    "the version page links the vulnerability GO-2099-0001");
  check((await page.locator("ul.vulns li").textContent()).includes("Fixed in v1.2.4."), "the vulnerability's fix is named");
  const verdict = await page.locator("section[aria-labelledby=policy] p").textContent();
  check(await page.locator("section[aria-labelledby=policy] .verdict.deny").count() === 1 && verdict.includes("GO-2099-0001 (fixed in v1.2.4)"),
    "the version page shows the policy's deny verdict and why: " + verdict);
  await shot(page, "version");

  // The private module: 404, the same bytes as an unknown module.
  resp = await page.goto(base + "/ui/" + secret);
  const hidden = await resp.text();
  resp = await page.goto(base + "/ui/corp.example/team/nothere");
  check(resp.status() === 404 && (await resp.text()) === hidden, "the private module's page is the 404 of an unknown module");

  // Events, filtered by module with the form.
  await page.goto(base + "/ui/events");
  check(!(await page.content()).includes(secret), "the events hide the private module's");
  await page.locator("#f-module").fill(pub);
  await page.locator("#f-result").selectOption("filled");
  await Promise.all([page.waitForURL(/\/ui\/events\?/), page.locator("form.filters button[type=submit]").click()]);
  const url = new URL(page.url());
  check(url.searchParams.get("module") === pub && url.searchParams.get("result") === "filled", "the filter is in the URL: " + url.search);
  const results = await page.locator("table.events tbody tr .result").allTextContents();
  const mods = await page.locator("table.events tbody tr td.path").allTextContents();
  check(results.length > 0 && results.every((r) => r === "filled") && mods.every((m) => m.startsWith(pub + "@")),
    "filtering by module and result lists only that module's fills: " + results.length);
  await page.goto(base + "/ui/events?result=warned");
  const warned = await page.locator("table.events tbody tr").allTextContents();
  check(warned.length === 1 && warned[0].includes("example.com/dep@v1.0.0") && warned[0].includes("UNKNOWN"),
    "the warned filter lists the policy's warning on the unlicensed dependency, and not the private module's: " + warned.length);

  // Phone: nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + "/ui/" + vuln + "@v1.2.3");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, "the version page fits a phone's width (overflow " + overflow + "px)");
  await shot(page, "version-phone");
  check(csp.length === 0, "the pages ran without CSP violations: " + csp.join("; "));
  await ctx.close();
}

// Without JavaScript: the pages work, the copy buttons stay hidden.
{
  const ctx = await open({ javaScriptEnabled: false });
  const page = ctx.pages()[0] || (await ctx.newPage());
  await page.goto(base + "/ui/" + pub + "@v1.1.0");
  check(await page.locator("#gosum-lines").isVisible(), "without JavaScript the go.sum lines are shown");
  check(!(await page.locator("button[data-copy=gosum-lines]").isVisible()), "without JavaScript the copy button is hidden");
  await page.goto(base + "/ui/events");
  await page.locator("#f-result").selectOption("hit");
  await Promise.all([page.waitForURL(/result=hit/), page.locator("form.filters button[type=submit]").click()]);
  check(await page.locator("table.events tbody tr").count() > 0, "without JavaScript the events filter works");
  await ctx.close();
}

// Alice signs in (HTTP Basic authentication, asked for by /ui/login).
{
  const ctx = await open({ httpCredentials: { username: "alice", password: process.env.ALICE_PASSWORD } });
  const page = ctx.pages()[0] || (await ctx.newPage());
  await page.goto(base + "/ui/login");
  check(page.url() === base + "/ui/", "signing in leads to /ui/");
  check((await page.content()).includes("that alice may read"), "/ui/ counts what alice may read");
  check((await page.locator("header .user").textContent()) === "Signed in as alice", "the header says alice is signed in");
  let resp = await page.goto(base + "/ui/" + secret);
  check(resp.status() === 200, "alice sees the private module's page");
  check(await page.locator(".tag.private").count() > 0, "the private module's version is marked private");
  await page.goto(base + "/ui/" + secret + "@v1.0.0");
  check((await page.locator("#verify + p").textContent()).startsWith("Not verified: a private module"), "the private version says why it was not verified");
  await page.goto(base + "/ui/search?q=corp");
  check(await page.locator("table.modules a", { hasText: secret }).count() === 1, "alice finds the private module");
  await page.goto(base + "/ui/events?result=denied");
  const refused = page.locator("table.events tbody tr.refused", { hasText: secret });
  check(await refused.count() === 1 && (await refused.textContent()).includes("anonymous"), "alice sees the anonymous request for her module, highlighted as refused");
  await page.goto(base + "/ui/events?result=warned");
  check(await page.locator("table.events tbody tr", { hasText: secret }).count() === 1, "alice sees the policy's warning on her module");
  await page.goto(base + "/ui/events");
  await shot(page, "events");
  await ctx.close();
}

console.log("ok: all checks passed");
