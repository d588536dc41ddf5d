// One person's first day, in a real browser against a real server: the owner account from
// the setup link, an authenticator app, a table with fields, records added and edited in
// the grid (the server's validation shown at the cell, a concurrent change explained),
// sort and filter, and signing in again with the second factor.
import { TOTP } from "otpauth";
import type { Page } from "@playwright/test";
import { expect, test } from "./server";
import { shot } from "./helpers";

const EMAIL = "owner@example.com";
const PASSWORD = "correct horse battery staple";


/** The grid cell of `field` in the row whose `name` cell reads `name`. */
const cell = (page: Page, name: string, field: string) =>
  page
    .locator(".grid-row", { has: page.locator(`[data-field="name"] .cell-text`, { hasText: new RegExp(`^${name}$`) }) })
    .locator(`[data-field="${field}"]`);

test.describe.configure({ mode: "serial" });

test("owner sets up, builds a table, works in the grid, signs in with TOTP", async ({ page, server }) => {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(e.message));

  // First run: the link's token is in the fragment.
  await page.goto(server.setupLink);
  await expect(page.getByRole("heading", { name: "Create the owner account" })).toBeVisible();
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByLabel("Name").fill("Olive Owner");
  await page.getByLabel(/Password/).fill(PASSWORD);
  await shot(page, "01-setup");
  await page.getByRole("button", { name: "Create owner" }).click();
  await expect(page.getByRole("heading", { name: "Projects" })).toBeVisible();
  await expect(page.getByText("No projects yet")).toBeVisible();
  expect(new URL(page.url()).hash).toBe("");

  // An authenticator app.
  await page.getByRole("link", { name: "Olive Owner" }).click();
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  const secret = (await page.getByTestId("totp-secret").textContent())?.trim() ?? "";
  expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
  const totp = new TOTP({ secret, digits: 6, period: 30, algorithm: "SHA1" });
  const enrolledAt = Math.floor(Date.now() / 30_000);
  await page.getByLabel("Code").fill(totp.generate());
  await page.getByRole("button", { name: "Turn on" }).click();
  await expect(page.getByTestId("recovery-codes").locator("li")).toHaveCount(10);
  await expect(page.getByText("Authenticator app: on")).toBeVisible();
  await shot(page, "02-account");

  // A project and a table with fields of several types.
  await page.getByRole("link", { name: "Rampart" }).click();
  await page.getByLabel("New project").fill("CRM");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "CRM" })).toBeVisible();
  await expect(page.getByText("No tables yet")).toBeVisible();
  await page.getByLabel("Table name").fill("people");
  const fields: [string, string, string?][] = [
    ["name", "text"],
    ["age", "integer"],
    ["tier", "single_select", "gold, silver"],
    ["active", "boolean"],
  ];
  for (const [i, [name, type, choices]] of fields.entries()) {
    if (i > 0) await page.getByRole("button", { name: "Add a field" }).click();
    await page.locator(`input[name=field_name_${i}]`).fill(name);
    await page.locator(`select[name=field_type_${i}]`).selectOption(type);
    if (choices) await page.locator(`input[name=field_choices_${i}]`).fill(choices);
  }
  await page.locator(".field-editor").first().getByLabel("Required").check();
  await shot(page, "03-new-table");
  await page.getByRole("button", { name: "Create table" }).click();
  await expect(page.getByRole("heading", { name: "people" })).toBeVisible();
  await expect(page.getByText("No records here yet")).toBeVisible();

  // Records through the form: the server's message lands at the field it names.
  const addRecord = async (values: Record<string, string>) => {
    await page.getByRole("button", { name: "New record" }).click();
    const form = page.getByRole("form", { name: "New record" });
    for (const [k, v] of Object.entries(values)) await form.locator(`[name="${k}"]`).fill(v);
    await form.getByRole("button", { name: "Add record" }).click();
    return form;
  };
  let form = await addRecord({ age: "forty" });
  await expect(form.getByText("expected an integer")).toBeVisible();
  await expect(form.getByText("this field is required")).toBeVisible();
  await form.locator('[name="name"]').fill("Ann");
  await form.locator('[name="age"]').fill("31");
  await form.getByRole("button", { name: "Add record" }).click();
  await expect(cell(page, "Ann", "age")).toHaveText("31");
  await addRecord({ name: "Bob", age: "25" });
  await expect(cell(page, "Bob", "age")).toHaveText("25");
  await addRecord({ name: "Cy", age: "47" });
  await expect(page.locator(".grid-row")).toHaveCount(3);

  // Edit in place with the keyboard: Enter opens, Enter saves and moves down.
  const grid = page.getByRole("grid");
  await cell(page, "Ann", "age").click();
  await page.keyboard.press("Enter");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("32");
  await page.keyboard.press("Enter");
  await expect(cell(page, "Ann", "age")).toHaveText("32");
  await expect(cell(page, "Bob", "age")).toHaveClass(/active/);
  // Arrow keys and typing to replace; a bad value is refused at the cell and changes nothing.
  await page.keyboard.press("ArrowUp");
  await page.keyboard.type("x");
  await page.keyboard.press("Enter");
  await expect(cell(page, "Ann", "age").locator(".cell-error")).toContainText("expected an integer");
  await shot(page, "04-cell-error");
  await page.keyboard.press("Escape");
  await expect(cell(page, "Ann", "age")).toHaveText("32");
  // Tab moves right; a select cell edits with its choices; the checkbox toggles.
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await grid.locator("select.cell-editor").selectOption("gold");
  await page.keyboard.press("Enter");
  await expect(cell(page, "Ann", "tier")).toHaveText("gold");
  await cell(page, "Cy", "active").locator("input").click();
  await expect(cell(page, "Cy", "active").locator("input")).toBeChecked();

  // Someone else changes Ann's record; editing the stale row explains the conflict.
  const tableId = new URL(page.url()).pathname.split("/").pop();
  const list = await page.request.get(`${server.base}/api/v1/tables/${tableId}/records?filter=${encodeURIComponent('name = "Ann"')}`);
  const ann = (await list.json()).records[0];
  const change = await page.request.patch(`${server.base}/api/v1/tables/${tableId}/records/${ann.id}`, {
    data: { fields: { age: 33 }, version: ann.version },
    headers: { "sec-fetch-site": "same-origin" },
  });
  expect(change.status()).toBe(200);
  await cell(page, "Ann", "age").dblclick();
  await page.keyboard.press("Control+A");
  await page.keyboard.type("34");
  await page.keyboard.press("Enter");
  await expect(cell(page, "Ann", "age").locator(".cell-error")).toContainText("Someone else changed this record");
  await page.keyboard.press("Escape");
  await expect(cell(page, "Ann", "age")).toHaveText("33");

  // Sort by clicking the column, then filter with the language and with the builder.
  await page.getByRole("columnheader", { name: /age/ }).getByRole("button").click();
  await expect(page.locator('.grid-row [data-field="name"]')).toHaveText(["Bob", "Ann", "Cy"]);
  await page.getByRole("columnheader", { name: /age/ }).getByRole("button").click();
  await expect(page.locator('.grid-row [data-field="name"]')).toHaveText(["Cy", "Ann", "Bob"]);
  await page.getByLabel("Filter").fill("age > zz");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByRole("alert").filter({ hasText: 'no field named "zz"' })).toBeVisible();
  await expect(page.locator(".grid-row")).toHaveCount(0);
  await page.getByLabel("Filter").fill("age >= 30");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.locator('.grid-row [data-field="name"]')).toHaveText(["Cy", "Ann"]);
  await page.getByText("Build a condition").click();
  await page.getByLabel("Condition field").selectOption("tier");
  await page.getByLabel("Condition value").fill("gold");
  await page.getByRole("button", { name: "Add condition" }).click();
  await expect(page.getByLabel("Filter")).toHaveValue('(age >= 30) && tier = "gold"');
  await expect(page.locator('.grid-row [data-field="name"]')).toHaveText(["Ann"]);
  await shot(page, "05-grid-filtered");

  // Delete a record.
  await page.getByRole("button", { name: "Clear", exact: true }).click();
  await expect(page.locator(".grid-row")).toHaveCount(3);
  // Copy two ages and paste them from the last row down: the row that exists takes the first.
  await page.getByRole("button", { name: "Clear the sort" }).click();
  await expect(page.locator('.grid-row [data-field="name"]')).toHaveText(["Ann", "Bob", "Cy"]);
  await cell(page, "Ann", "age").click();
  await page.keyboard.press("Shift+ArrowDown");
  await expect(cell(page, "Bob", "age")).toHaveClass(/selected/);
  await page.keyboard.press("Control+C");
  await expect(page.getByText("Copied 2 × 1 cells.")).toBeVisible();
  await cell(page, "Cy", "age").click();
  await page.keyboard.press("Control+V");
  await expect(page.getByText("Pasted into 1 record.")).toBeVisible();
  await expect(cell(page, "Cy", "age")).toHaveText("33");
  // The second row had no record to land in: offered as a new one, here declined.
  const offer = page.getByRole("group", { name: "Pasted rows past the last record" });
  await expect(offer).toContainText("1 pasted row goes past the last record.");
  await offer.getByRole("button", { name: "Discard it" }).click();
  await expect(offer).toHaveCount(0);

  // Fields: add one with options, rename one, delete one.
  await page.getByRole("button", { name: "Fields", exact: true }).click();
  const fieldsPanel = page.getByRole("region", { name: "Fields" });
  await fieldsPanel.getByRole("button", { name: "New field" }).click();
  await fieldsPanel.locator("input[name=field_name_0]").fill("notes");
  await fieldsPanel.locator("select[name=field_type_0]").selectOption("text");
  await fieldsPanel.getByLabel("Longest (characters)").fill("200");
  await fieldsPanel.getByRole("button", { name: "Add field" }).click();
  await expect(page.getByRole("columnheader", { name: /notes/ })).toBeVisible();
  await fieldsPanel.locator("li", { hasText: "active" }).getByRole("button", { name: "Edit" }).click();
  await fieldsPanel.locator("input[name=field_name_0]").fill("enabled");
  await fieldsPanel.getByRole("button", { name: "Save field" }).click();
  await expect(page.getByRole("columnheader", { name: /enabled/ })).toBeVisible();
  await expect(cell(page, "Cy", "enabled").locator("input")).toBeChecked();
  page.once("dialog", (d) => void d.accept());
  await fieldsPanel.locator("li", { hasText: "notes" }).getByRole("button", { name: "Delete" }).click();
  await expect(page.getByRole("columnheader", { name: /notes/ })).toHaveCount(0);
  await page.getByRole("button", { name: "Fields", exact: true }).click();

  page.once("dialog", (d) => void d.accept());
  await cell(page, "Bob", "name").click();
  await page.getByRole("button", { name: "Delete record" }).click();
  await expect(page.locator(".grid-row")).toHaveCount(2);
  await expect(page.getByText("Record deleted.")).toBeVisible();

  // Sign out, and in again with the password and a fresh code.
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in to Rampart" })).toBeVisible();
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByText("6-digit code")).toBeVisible();
  await page.getByLabel("Code").fill("000000");
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  // A code is good once: wait for the period after the one used to enrol.
  while (Math.floor(Date.now() / 30_000) <= enrolledAt) await page.waitForTimeout(500);
  await page.getByLabel("Code").fill(totp.generate());
  await page.getByRole("button", { name: "Verify" }).click();
  await expect(page.getByRole("heading", { name: "Projects" })).toBeVisible();
  await expect(page.getByRole("link", { name: "CRM" })).toBeVisible();
  await shot(page, "06-projects");

  expect(problems, "console errors (a CSP violation shows here)").toEqual([]);
});
