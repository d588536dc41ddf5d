// Scrolling a large table: rows are fetched a page (100) at a time by cursor as the view
// nears the end of what is loaded, never counted, and only what is on screen is in the DOM.
import { expect, test } from "./server";
import { createTable, setupOwner } from "./helpers";

// SCROLL_ROWS=100000 scripts/ui-test e2e/scroll.spec.ts measures a bigger table by hand.
const ROWS = Number(process.env.SCROLL_ROWS ?? 3_000);

test("scrolling to the end of a large table costs one request per page", async ({ page, server }) => {
  test.setTimeout(Math.max(120_000, ROWS * 20));
  await setupOwner(page, server, "owner@example.com", "correct horse battery staple", "Olive Owner");
  await createTable(page, "Big", "rows", [["n", "integer"], ["label", "text"]]);
  const tableId = new URL(page.url()).pathname.split("/").pop();
  for (let start = 0; start < ROWS; start += 1000) {
    const create = Array.from({ length: 1000 }, (_, i) => ({ fields: { n: start + i, label: `row ${start + i}` } }));
    const r = await page.request.post(`${server.base}/api/v1/tables/${tableId}/records/batch`, {
      data: { create },
      headers: { "sec-fetch-site": "same-origin" },
    });
    expect(r.status()).toBe(200);
  }
  const listed: string[] = [];
  page.on("request", (r) => {
    if (r.url().includes(`/tables/${tableId}/records?`)) listed.push(r.url());
  });
  await page.reload();
  const grid = page.getByRole("grid");
  await expect(page.locator(".grid-row").first()).toBeVisible();
  expect(listed).toHaveLength(1);

  // Scroll to the end the way a person drags the scroll bar: as far as it goes, repeatedly.
  let maxDom = 0;
  const started = Date.now();
  for (let i = 0; i < ROWS; i++) {
    await grid.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
    await page.waitForTimeout(20);
    maxDom = Math.max(maxDom, await page.locator(".grid-row").count());
    if ((await page.getByRole("status").filter({ hasText: "records loaded" }).textContent())?.includes(`${ROWS} records loaded ·`)) break;
  }
  const status = page.getByRole("status").filter({ hasText: "records loaded" });
  await expect(status).toContainText(`${ROWS} records loaded ·`);
  await expect(status).not.toContainText("more below");
  await grid.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
  await expect(page.locator(".grid-row .rownum").last()).toHaveText(String(ROWS));
  expect(listed).toHaveLength(ROWS / 100);
  expect(listed.every((u) => !u.includes("count="))).toBe(true);
  expect(maxDom).toBeLessThan(100);
  // Far pages were dropped on the way down; back at the top, the first page is fetched again
  // by its cursor, and only it.
  const before = listed.length;
  await grid.evaluate((el) => el.scrollTo({ top: 0 }));
  await expect(page.locator('.grid-row [data-field="label"]').first()).toHaveText("row 0");
  expect(listed.length - before).toBeLessThanOrEqual(2);
  const heap = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0);
  console.log(`scroll: ${ROWS} rows in ${Date.now() - started} ms, ${listed.length} list requests, ` +
    `at most ${maxDom} rows in the DOM, JS heap ${(heap / 1048576).toFixed(1)} MiB`);
});
