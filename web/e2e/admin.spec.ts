// Tenant administration in the browser: a user's role and status, a group, the
// second-factor requirement, network settings refused with the field named, and identity
// providers whose client secret is never shown again.
import { TOTP } from "otpauth";
import { expect, test } from "./server";
import { setupOwner, shot } from "./helpers";

test("users, groups, sign-in rules and network settings", async ({ page, server }) => {
  await setupOwner(page, server, "owner@example.com", "correct horse battery staple", "Olive Owner");
  await page.getByRole("link", { name: "Users" }).click();
  const form = page.getByRole("form", { name: "New user" });
  await form.getByLabel("Email").fill("ada@example.com");
  await form.getByLabel("Name").fill("Ada Admin");
  await form.getByLabel("Initial password").fill("a long enough passphrase");
  await form.getByRole("button", { name: "Create user" }).click();
  const row = page.getByRole("row", { name: /ada@example.com/ });
  await expect(row).toBeVisible();

  // Role and status.
  await row.getByLabel("Role of ada@example.com").selectOption("admin");
  await expect(row.getByLabel("Role of ada@example.com")).toHaveValue("admin");
  await row.getByRole("button", { name: "Disable" }).click();
  await expect(row).toContainText("disabled");
  const users = await page.request.get(`${server.base}/api/v1/users`);
  const ada = (await users.json()).find((u: { email: string }) => u.email === "ada@example.com");
  expect([ada.role, ada.disabled]).toEqual(["admin", true]);
  await row.getByRole("button", { name: "Enable" }).click();
  await expect(row).toContainText("active");

  // A group with a member.
  await page.getByLabel("New group").fill("sales");
  await page.getByRole("button", { name: "Create group" }).click();
  const group = page.locator("fieldset", { hasText: "sales" });
  await group.getByLabel("Ada Admin").check();
  await expect(group.getByLabel("Ada Admin")).toBeChecked();

  // Sign-in rules: requiring a second factor of everyone needs one's own first; the refusal
  // is shown and the box goes back.
  // A click, not check(): the refusal may put the box back before check() looks at it.
  const rule = page.getByLabel("Everyone must use a second factor");
  await rule.click();
  await expect(page.getByRole("alert").filter({ hasText: "enrol a second factor yourself" })).toBeVisible();
  await expect(rule).not.toBeChecked();
  await page.getByRole("link", { name: "Olive Owner" }).click();
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  const secret = (await page.getByTestId("totp-secret").textContent())?.trim() ?? "";
  await page.getByLabel("Code").fill(new TOTP({ secret }).generate());
  await page.getByRole("button", { name: "Turn on" }).click();
  await expect(page.getByText("Authenticator app: on")).toBeVisible();
  await page.getByRole("link", { name: "Users" }).click();
  await rule.check();
  await expect(page.getByText("Saved.")).toBeVisible();
  await page.reload();
  await expect(rule).toBeChecked();
  await rule.uncheck();
  await expect(page.getByText("Saved.")).toBeVisible();
  await page.reload();
  await expect(rule).not.toBeChecked();

  // Network settings: a malformed network is refused and named; a good one is kept.
  const network = page.getByRole("form", { name: "Network and limits" });
  await network.locator('textarea[name="ip_deny"]').fill("not-a-network");
  await network.getByRole("button", { name: "Save network settings" }).click();
  await expect(network.getByRole("alert").first()).toBeVisible();
  await network.locator('textarea[name="ip_deny"]').fill("203.0.113.0/24");
  await network.getByRole("button", { name: "Save network settings" }).click();
  await expect(network.getByRole("alert")).toHaveCount(0);
  await page.reload();
  await expect(page.getByRole("form", { name: "Network and limits" }).locator('textarea[name="ip_deny"]')).toHaveValue("203.0.113.0/24");
});

test("identity providers: a refused issuer is named, the client secret never comes back", async ({ page, server }) => {
  const secret = "oidc-client-secret-5b4a39281706f5e4d3c2";
  await setupOwner(page, server, "owner@example.com", "correct horse battery staple", "Olive Owner");
  await page.getByRole("link", { name: "Users" }).click();
  await expect(page.getByText("No identity providers yet.")).toBeVisible();
  const form = page.getByRole("form", { name: "New identity provider" });
  await form.getByLabel("Name", { exact: true }).fill("Acme SSO");
  await form.getByLabel("Issuer URL").fill("http://login.acme.test");
  await form.getByLabel("Client id").fill("rampart");
  await form.getByLabel("Client secret").fill(secret);
  await form.getByRole("button", { name: "Add identity provider" }).click();
  await expect(form.getByRole("alert")).toContainText("https");
  await form.getByLabel("Issuer URL").fill("https://login.acme.test/realms/acme");
  await form.getByRole("button", { name: "Add identity provider" }).click();

  const row = page.getByRole("row", { name: /Acme SSO/ });
  await expect(row).toContainText("openid email profile");
  await expect(form.getByLabel("Client secret")).toHaveValue("");
  await expect(form.getByRole("alert")).toHaveCount(0);
  const print = (await row.locator("code").textContent())?.trim() ?? "";
  expect(print).toMatch(/^[0-9a-f]{16}$/);
  expect(await page.content()).not.toContain(secret);
  await shot(page, "14-identity-providers");

  // A new secret replaces the old one: only its fingerprint changes on the page.
  await row.getByRole("button", { name: "Replace" }).click();
  await row.getByLabel("New client secret").fill("a different client secret");
  await row.getByRole("button", { name: "Save secret" }).click();
  await expect(row.locator("code")).not.toHaveText(print);
  const listed = await page.request.get(`${server.base}/api/v1/identity-providers`);
  const text = await listed.text();
  expect(text).not.toContain(secret);
  expect(text).not.toContain("a different client secret");
  expect(JSON.parse(text)).toHaveLength(1);

  page.once("dialog", (d) => void d.accept());
  await row.getByRole("button", { name: "Delete" }).click();
  await expect(page.getByText("No identity providers yet.")).toBeVisible();
});
