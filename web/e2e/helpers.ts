import type { Page } from "@playwright/test";
import { expect, type Server } from "./server";

export const shot = (page: Page, name: string) =>
  page.screenshot({ path: `test-results/screens/${name}.png`, fullPage: true });

/** The first owner, from the link the server printed; ends on the projects screen. */
export async function setupOwner(page: Page, server: Server, email: string, password: string, name: string) {
  await page.goto(server.setupLink);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel(/Password/).fill(password);
  await page.getByRole("button", { name: "Create owner" }).click();
  await expect(page.getByRole("heading", { name: "Projects" })).toBeVisible();
}

export async function signIn(page: Page, server: Server, email: string, password: string) {
  await page.goto(server.base + "/");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Projects" })).toBeVisible();
}

/** A project with one table of text and integer fields; ends on the table's grid. */
export async function createTable(page: Page, project: string, table: string, fields: [string, string][]) {
  await page.getByRole("link", { name: "Rampart" }).click();
  await page.getByLabel("New project").fill(project);
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: project })).toBeVisible();
  await page.getByLabel("Table name").fill(table);
  for (const [i, [name, type]] of fields.entries()) {
    if (i > 0) await page.getByRole("button", { name: "Add a field" }).click();
    await page.locator(`input[name=field_name_${i}]`).fill(name);
    await page.locator(`select[name=field_type_${i}]`).selectOption(type);
  }
  await page.getByRole("button", { name: "Create table" }).click();
  await expect(page.getByRole("heading", { name: table })).toBeVisible();
}

export async function addRecord(page: Page, values: Record<string, string>) {
  await page.getByRole("button", { name: "New record" }).click();
  const form = page.getByRole("form", { name: "New record" });
  for (const [k, v] of Object.entries(values)) await form.locator(`[name="${k}"]`).fill(v);
  await form.getByRole("button", { name: "Add record" }).click();
  await expect(form).toBeHidden();
}

/** The texts of one column, top to bottom, as the grid shows them. */
export const column = (page: Page, field: string) => page.locator(`.grid-row [data-field="${field}"]`);
