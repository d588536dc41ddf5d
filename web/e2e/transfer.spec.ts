// Data in: the import wizard (into a table and as a new table) and a paste that runs past the
// last record.
import { expect, test } from "./server";
import { addRecord, column, createTable, setupOwner, shot } from "./helpers";

const csv = (text: string) => ({ name: "products.csv", mimeType: "text/csv", buffer: Buffer.from(text) });

test("a file comes in through the wizard: preview, mapping, a check, progress and the refused rows", async ({ page, server }) => {
  await setupOwner(page, server, "owner@example.com", "correct horse battery staple", "Olive Owner");
  await createTable(page, "Shop", "products", [["name", "text"], ["price", "integer"]]);
  await page.getByRole("button", { name: "Import", exact: true }).click();
  const wizard = page.getByRole("region", { name: "Import a file" });
  await wizard.locator("input[name=import_file]").setInputFiles(
    csv("Name,Price,Note\r\napple,3,x\r\npear,many,y\r\nplum,5,z\r\n"),
  );
  // What the server read, and where each column goes (by name; the unknown one skipped).
  await expect(wizard.getByRole("status").first()).toContainText("CSV, separated by “,”");
  await expect(wizard.getByLabel("Field for Name")).toHaveValue("name");
  await expect(wizard.getByLabel("Field for Price")).toHaveValue("price");
  await expect(wizard.getByLabel("Field for Note")).toHaveValue("");
  await expect(wizard.locator(".import-preview tbody tr")).toHaveCount(3);
  await shot(page, "20-import-preview");

  // The check writes nothing and names the refused row's row and column.
  await wizard.getByRole("button", { name: "Check for errors" }).click();
  await expect(wizard.getByText("Check finished: 3 rows read, 2 would be written, 1 refused.")).toBeVisible();
  const refused = wizard.getByRole("table", { name: "Refused rows" });
  await expect(refused.locator("tbody tr")).toHaveCount(1);
  await expect(refused.locator("tbody td").nth(0)).toHaveText("3");
  await expect(refused.locator("tbody td").nth(1)).toHaveText("Price");
  await expect(refused.locator("tbody td").nth(2)).toContainText("invalid_type");
  await expect(column(page, "name")).toHaveCount(0);

  // Import the valid rows; the refused one is a file to fix and import again.
  await wizard.getByLabel("Import the other rows and keep the refused ones as a file").check();
  await wizard.getByRole("button", { name: "Import", exact: true }).click();
  await expect(wizard.getByText("Import finished: 3 rows read, 2 written, 1 refused.")).toBeVisible();
  await expect(column(page, "name")).toHaveText(["apple", "plum"]);
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    wizard.getByRole("link", { name: "Download the refused rows" }).click(),
  ]);
  const fs = await import("node:fs/promises");
  const rejects = await fs.readFile(await download.path(), "utf8");
  expect(rejects.split("\r\n")[0]).toBe("row,Name,Price,Note,errors");
  expect(rejects).toContain("3,pear,many,y,Price: invalid_type");
  await shot(page, "21-import-result");

  // An upsert by a unique field updates the record it matches.
  await page.getByRole("button", { name: "Fields", exact: true }).click();
  const fieldsPanel = page.getByRole("region", { name: "Fields" });
  await fieldsPanel.locator("li", { hasText: "name" }).getByRole("button", { name: "Edit" }).click();
  await fieldsPanel.getByLabel("Unique").check();
  await fieldsPanel.getByRole("button", { name: "Save field" }).click();
  await expect(fieldsPanel.locator("li", { hasText: "name" })).toContainText("unique");
  await page.getByRole("button", { name: "Fields", exact: true }).click();
  await page.getByRole("button", { name: "Import", exact: true }).click();
  await wizard.locator("input[name=import_file]").setInputFiles(csv("name,price\r\napple,4\r\nfig,9\r\n"));
  await expect(wizard.getByLabel("Field for price")).toHaveValue("price");
  await wizard.locator("select[name=import_upsert]").selectOption("name");
  await wizard.getByRole("button", { name: "Import", exact: true }).click();
  await expect(wizard.getByText("Import finished: 2 rows read, 2 written (1 of them updates), 0 refused.")).toBeVisible();
  await expect(column(page, "name")).toHaveText(["apple", "plum", "fig"]);
  await expect(column(page, "price")).toHaveText(["4", "5", "9"]);
});

test("a file becomes a new table, with the types the user picked", async ({ page, server }) => {
  await setupOwner(page, server, "owner@example.com", "correct horse battery staple", "Olive Owner");
  await page.getByLabel("New project").fill("Stock");
  await page.getByRole("button", { name: "Create project" }).click();
  await expect(page.getByRole("heading", { name: "Stock" })).toBeVisible();
  await page.getByRole("button", { name: "Import a file as a new table" }).click();
  const wizard = page.getByRole("region", { name: "Import a file" });
  await wizard.locator("input[name=import_file]").setInputFiles(
    csv("Item,Count,Code\r\nbolt,10,007\r\nnut,25,012\r\n"),
  );
  await expect(wizard.getByLabel("Type of Count")).toHaveValue("integer");
  await expect(wizard.getByLabel("New table's name")).toHaveValue("products");
  await wizard.getByLabel("New table's name").fill("Parts");
  await wizard.getByLabel("Type of Count").selectOption("text");
  await wizard.getByRole("button", { name: "Import", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Parts" })).toBeVisible();
  await expect(column(page, "Item")).toHaveText(["bolt", "nut"]);
  await expect(column(page, "Code")).toHaveText(["007", "012"]);
  await page.getByRole("button", { name: "Fields", exact: true }).click();
  await expect(page.getByRole("region", { name: "Fields" }).locator("li", { hasText: "Count" })).toContainText("text");
});

test("a paste longer than the table offers to create the extra rows, never drops them", async ({ page, server }) => {
  await setupOwner(page, server, "owner@example.com", "correct horse battery staple", "Olive Owner");
  await createTable(page, "Shop", "products", [["name", "text"], ["price", "integer"]]);
  await addRecord(page, { name: "apple", price: "3" });
  await page.locator('.grid-row [data-field="name"]').first().click();
  // Sixteen rows from a spreadsheet, pasted on the only record.
  const lines = Array.from({ length: 16 }, (_, i) => `item ${i + 1}\t${i + 1}`);
  await page.locator(".paste-target").evaluate((el, text) => {
    const data = new DataTransfer();
    data.setData("text/plain", text);
    el.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
  }, lines.join("\r\n") + "\r\n");
  await expect(page.getByText("Pasted into 1 record.")).toBeVisible();
  const offer = page.getByRole("group", { name: "Pasted rows past the last record" });
  await expect(offer).toContainText("15 pasted rows go past the last record.");
  await offer.getByRole("button", { name: "Create 15 new records" }).click();
  await expect(page.getByText("Created 15 records.")).toBeVisible();
  await expect(column(page, "name")).toHaveCount(16);
  await expect(column(page, "name").first()).toHaveText("item 1");
  await expect(column(page, "name").last()).toHaveText("item 16");
  await expect(column(page, "price").last()).toHaveText("16");
  // The server holds them all.
  const href = await page.getByRole("link", { name: "Export CSV" }).getAttribute("href");
  const all = await page.request.get(server.base + href);
  expect((await all.text()).trim().split("\r\n")).toHaveLength(17);
});
