// A record's own page with links to related records, and the audit trail of the changes
// made on the way (filtered, and exported as JSON lines).
import { expect, test } from "./server";
import { addRecord, column, createTable, setupOwner, shot } from "./helpers";

test("records link to records, and the audit trail shows who did it", async ({ page, server }) => {
  await setupOwner(page, server, "owner@example.com", "correct horse battery staple", "Olive Owner");
  await createTable(page, "Shop", "customers", [["name", "text"]]);
  await addRecord(page, { name: "Acme" });
  await addRecord(page, { name: "Globex" });

  // A second table in the same project, linking to the first.
  await page.getByRole("link", { name: "Shop" }).click();
  await page.getByLabel("Table name").fill("orders");
  await page.locator("input[name=field_name_0]").fill("ref");
  await page.getByRole("button", { name: "Add a field" }).click();
  await page.locator("input[name=field_name_1]").fill("buyer");
  await page.locator("select[name=field_type_1]").selectOption("link");
  await page.locator(".field-editor").nth(1).getByLabel("Linked table").selectOption({ label: "customers" });
  await page.getByRole("button", { name: "Create table" }).click();
  await expect(page.getByRole("heading", { name: "orders" })).toBeVisible();
  await addRecord(page, { ref: "o-1" });
  await expect(column(page, "ref")).toHaveText(["o-1"]);

  // Its own page: link a customer found by search, then follow the link.
  await column(page, "ref").first().click();
  await page.getByRole("button", { name: "Open record" }).click();
  await expect(page.getByRole("heading", { name: "o-1" })).toBeVisible();
  await expect(page.getByText("No linked records.")).toBeVisible();
  await page.getByLabel("Find a record to link in buyer").fill("glob");
  await page.getByRole("button", { name: "Find" }).click();
  await page.locator(".found li", { hasText: "Globex" }).getByRole("button", { name: "Link" }).click();
  await expect(page.getByRole("link", { name: "Globex" })).toBeVisible();
  // Edit a value here; a bad one is refused at the field.
  await page.getByRole("form", { name: "Record" }).locator('[name="ref"]').fill("o-1b");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("heading", { name: "o-1b" })).toBeVisible();
  await shot(page, "10-record");
  await page.getByRole("link", { name: "Globex" }).click();
  await expect(page.getByRole("heading", { name: "Globex" })).toBeVisible();
  await page.goBack();
  await expect(page.getByRole("heading", { name: "o-1b" })).toBeVisible();

  // The audit trail: record changes, newest first, and the same as JSON lines. The first,
  // unfiltered page is held back until the filtered one has been answered, so it arrives
  // stale: the viewer must drop it rather than show it under the filter.
  let filteredAnswered!: () => void;
  const filtered = new Promise<void>((resolve) => (filteredAnswered = resolve));
  let staleDelivered!: () => void;
  const stale = new Promise<void>((resolve) => (staleDelivered = resolve));
  await page.route(/\/api\/v1\/audit\?/, async (route) => {
    const response = await route.fetch();
    if (new URL(route.request().url()).searchParams.has("action")) {
      await route.fulfill({ response });
      filteredAnswered();
    } else {
      await filtered;
      await route.fulfill({ response });
      staleDelivered();
    }
  });
  await page.getByRole("link", { name: "Audit" }).click();
  await expect(page.getByRole("heading", { name: "Audit trail" })).toBeVisible();
  await page.getByLabel("Action or area").fill("record.");
  await page.getByRole("button", { name: "Show" }).click();
  await stale;
  // Two frames after the stale body arrived: its JSON is parsed and any render it caused done.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.unroute(/\/api\/v1\/audit\?/);
  const actions = page.locator("table.audit tbody td:nth-child(4)");
  await expect(actions.first()).toHaveText("record.update");
  await expect(actions).toHaveText(["record.update", "record.update", "record.create", "record.create", "record.create"]);
  await expect(page.locator("table.audit tbody td:nth-child(3)").first()).toHaveText("Olive Owner");
  await shot(page, "11-audit");
  const href = await page.getByRole("link", { name: "Export (JSON lines)" }).getAttribute("href");
  const exported = await page.request.get(server.base + href);
  expect(exported.status()).toBe(200);
  const lines = (await exported.text()).trim().split("\n").map((l) => JSON.parse(l));
  expect(lines.map((l) => l.action).sort()).toEqual(["record.create", "record.create", "record.create", "record.update", "record.update"]);
});

test("the grid exports what it shows, with its filter and sort, as a file", async ({ page, server }) => {
  await setupOwner(page, server, "owner@example.com", "correct horse battery staple", "Olive Owner");
  await createTable(page, "Shop", "products", [["name", "text"], ["price", "integer"]]);
  await addRecord(page, { name: "=cheap", price: "3" });
  await addRecord(page, { name: "dear", price: "90" });
  await addRecord(page, { name: "middle", price: "40" });
  await expect(column(page, "name")).toHaveCount(3);
  await page.locator("input[name=filter]").fill("price > 10");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(column(page, "name")).toHaveCount(2);
  await page.getByTitle("Sort by price").click();
  await expect(page.getByText("sorted by price ascending")).toBeVisible();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Export CSV" }).click(),
  ]);
  expect(download.suggestedFilename()).toBe("products.csv");
  const fs = await import("node:fs/promises");
  const text = await fs.readFile(await download.path(), "utf8");
  expect(text).toBe("name,price\r\nmiddle,40\r\ndear,90\r\n");
  // Unfiltered, a value a spreadsheet would run as a formula is written as text.
  await page.getByRole("button", { name: "Clear", exact: true }).click();
  await expect(column(page, "name")).toHaveCount(3);
  const href = await page.getByRole("link", { name: "Export CSV" }).getAttribute("href");
  const all = await page.request.get(server.base + href);
  expect(await all.text()).toContain("'=cheap,3");
});
