// Access in the browser: a permission set with a record rule (a broken rule refused with the
// server's message at its position), "view as user" showing exactly another user's records,
// the explanation of a denial, and that user signing in to see the same.
import { expect, test } from "./server";
import { addRecord, column, createTable, setupOwner, shot, signIn } from "./helpers";

const OWNER = { email: "owner@example.com", password: "correct horse battery staple" };
const MO = { email: "mo@example.com", password: "another long passphrase" };

test("a record rule, seen through view-as and then by the user", async ({ page, browser, server }) => {
  await setupOwner(page, server, OWNER.email, OWNER.password, "Olive Owner");

  // A second account, made by the tenant owner.
  await page.getByRole("link", { name: "Users" }).click();
  const form = page.getByRole("form", { name: "New user" });
  await form.getByLabel("Email").fill(MO.email);
  await form.getByLabel("Name").fill("Mo Member");
  await form.getByLabel("Initial password").fill(MO.password);
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByRole("cell", { name: MO.email })).toBeVisible();

  await createTable(page, "Sales", "deals", [["title", "text"], ["amount", "integer"]]);
  await addRecord(page, { title: "Owner deal 1", amount: "100" });
  await addRecord(page, { title: "Owner deal 2", amount: "200" });
  await expect(column(page, "title")).toHaveText(["Owner deal 1", "Owner deal 2"]);

  // A permission set: create and read, reading only one's own records.
  await page.getByRole("link", { name: "Sales" }).click();
  await page.getByRole("link", { name: "Members and permissions" }).click();
  await page.getByRole("button", { name: "New permission set" }).click();
  const editor = page.getByRole("form", { name: "New permission set" });
  await editor.getByLabel("Set name").fill("Own deals");
  await editor.getByLabel("Table deals").check();
  await editor.locator('input[name="deals_create"]').check();
  await editor.locator('input[name="deals_rule_read"]').fill("owner = @user.idd");
  await editor.getByRole("button", { name: "Create set" }).click();
  await expect(editor.getByRole("alert")).toContainText("idd");
  await editor.locator('input[name="deals_rule_read"]').fill("owner = @user.id");
  await editor.getByRole("button", { name: "Create set" }).click();
  const saved = page.getByRole("form", { name: "Permission set Own deals" });
  await expect(saved).toBeVisible();
  await saved.getByLabel(`Give Own deals to ${MO.email}`).check();
  await expect(saved.getByLabel(`Give Own deals to ${MO.email}`)).toBeChecked();
  await shot(page, "07-access");

  // Mo signs in elsewhere and adds a record of their own.
  const moContext = await browser.newContext();
  const mo = await moContext.newPage();
  await signIn(mo, server, MO.email, MO.password);
  await mo.getByRole("link", { name: "Sales" }).click();
  await mo.getByRole("link", { name: "deals" }).click();
  await expect(mo.getByText("No records here yet")).toBeVisible();
  await addRecord(mo, { title: "Mo deal", amount: "5" });
  await expect(column(mo, "title")).toHaveText(["Mo deal"]);

  // The owner views the table as Mo: exactly Mo's record.
  await page.getByRole("link", { name: "Sales" }).click();
  await page.getByRole("link", { name: "deals" }).click();
  await expect(column(page, "title")).toHaveText(["Owner deal 1", "Owner deal 2", "Mo deal"]);
  await page.getByLabel("Check access for").selectOption({ label: `Mo Member (${MO.email})` });
  await page.getByRole("button", { name: "View as this user" }).click();
  await expect(page.getByText("Viewing as")).toBeVisible();
  await expect(column(page, "title")).toHaveText(["Mo deal"]);
  await expect(page.getByRole("button", { name: "New record" })).toHaveCount(0);
  await shot(page, "08-view-as");

  // Back in the owner's view: why may Mo not read the owner's first deal?
  await page.getByRole("button", { name: "Back to my view" }).click();
  await expect(column(page, "title")).toHaveCount(3);
  await column(page, "title").first().click();
  await page.getByRole("button", { name: "Explain the selected record" }).click();
  const why = page.getByRole("region", { name: "Explanation" });
  await expect(why).toContainText("Denied");
  await expect(why).toContainText("owner = @user.id does not match");
  await shot(page, "09-explain");

  // And Mo, reloading, sees what view-as showed.
  await mo.reload();
  await expect(column(mo, "title")).toHaveText(["Mo deal"]);
  await moContext.close();
});
