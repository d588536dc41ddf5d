// The account page: API tokens shown once, used, rotated and revoked; a session signed in
// elsewhere seen and revoked.
import { expect, test } from "./server";
import { setupOwner, shot, signIn } from "./helpers";

const EMAIL = "owner@example.com";
const PASSWORD = "correct horse battery staple";

test("tokens and sessions", async ({ page, browser, server }) => {
  await setupOwner(page, server, EMAIL, PASSWORD, "Olive Owner");
  const other = await browser.newContext({ userAgent: "OtherBrowser/1.0" });
  const elsewhere = await other.newPage();
  await signIn(elsewhere, server, EMAIL, PASSWORD);

  await page.getByRole("link", { name: "Olive Owner" }).click();
  // A read-only token: shown once, works, rotates (the old secret stops), revokes.
  await page.getByLabel("Token name").fill("reports");
  await page.getByLabel("read only").check();
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = (await page.getByTestId("token-secret").textContent()) ?? "";
  expect(secret).toMatch(/^rpt_/);
  const me = (s: string) => page.request.get(`${server.base}/api/v1/me`, { headers: { authorization: `Bearer ${s}` } });
  expect((await me(secret)).status()).toBe(200);
  await page.getByRole("button", { name: "Done" }).click();
  await expect(page.getByTestId("token-secret")).toHaveCount(0);
  await expect(page.getByRole("cell", { name: "reports" })).toBeVisible();
  await expect(page.getByRole("cell", { name: "read", exact: true })).toBeVisible();
  await page.getByRole("row", { name: /reports/ }).getByRole("button", { name: "Rotate" }).click();
  const rotated = (await page.getByTestId("token-secret").textContent()) ?? "";
  expect(rotated).toMatch(/^rpt_/);
  expect(rotated).not.toBe(secret);
  expect((await me(rotated)).status()).toBe(200);
  // The old one works for a grace period, and says so; both can be revoked at once.
  await expect(page.getByRole("row", { name: /replaced; works until/ })).toBeVisible();
  await expect(page.getByRole("row", { name: /reports/ })).toHaveCount(2);
  for (let i = 0; i < 2; i++) {
    page.once("dialog", (d) => void d.accept());
    await page.getByRole("row", { name: /reports/ }).first().getByRole("button", { name: "Revoke" }).click();
    await expect(page.getByRole("row", { name: /reports/ })).toHaveCount(1 - i);
  }
  await expect(page.getByText("No tokens.")).toBeVisible();
  expect((await me(rotated)).status()).toBe(401);
  expect((await me(secret)).status()).toBe(401);

  // The other browser's session is listed, and revoking it signs that browser out.
  const row = page.getByRole("row", { name: /OtherBrowser/ });
  await expect(row).toBeVisible();
  await expect(page.getByRole("row", { name: /this session/ })).toBeVisible();
  await shot(page, "13-account");
  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(row).toHaveCount(0);
  await elsewhere.reload();
  await expect(elsewhere.getByRole("heading", { name: "Sign in to Rampart" })).toBeVisible();
  await other.close();
});
