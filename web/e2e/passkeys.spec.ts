// Passkeys in Chromium's virtual authenticator (WebAuthn over the DevTools protocol): enrol
// one, sign in with it alone, and use it as the second factor after a password.
import type { Page } from "@playwright/test";
import { expect, test } from "./server";
import { setupOwner, shot } from "./helpers";

const EMAIL = "owner@example.com";
const PASSWORD = "correct horse battery staple";

async function virtualAuthenticator(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
}

test("a passkey signs in alone and as the second factor", async ({ page, server }) => {
  await virtualAuthenticator(page);
  await setupOwner(page, server, EMAIL, PASSWORD, "Olive Owner");
  await page.getByRole("link", { name: "Olive Owner" }).click();
  await page.getByLabel("Passkey name").fill("Laptop");
  await page.getByRole("button", { name: "Add a passkey" }).click();
  await expect(page.locator(".list li", { hasText: "Laptop" })).toBeVisible();
  await expect(page.locator(".codes li")).toHaveCount(10);
  await shot(page, "12-passkeys");

  // Passwordless.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await expect(page.getByRole("heading", { name: "Projects" })).toBeVisible();

  // Password, then the passkey as the second factor.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByText("Confirm it is you with your passkey.")).toBeVisible();
  await page.getByRole("button", { name: "Use a passkey" }).click();
  await expect(page.getByRole("heading", { name: "Projects" })).toBeVisible();

  // A removed passkey no longer signs in.
  await page.getByRole("link", { name: "Olive Owner" }).click();
  page.once("dialog", (d) => void d.accept());
  await page.locator(".list li", { hasText: "Laptop" }).getByRole("button", { name: "Remove" }).click();
  await expect(page.getByText("No passkeys.")).toBeVisible();
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await expect(page.getByRole("heading", { name: "Sign in to Rampart" })).toBeVisible();
});
