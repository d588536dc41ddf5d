// Rows of a table fetched page by page with the server's cursors: never a count of all
// rows, never an offset. Every page's starting cursor is kept (a few bytes per 100 rows),
// but only the pages near the view keep their rows: scrolling far away drops them, and
// scrolling back fetches them again by their cursor, so memory stays bounded however long
// the table.
import { get, type PageOut, type RecordOut } from "../api";

export const PAGE_SIZE = 100;
/** Pages kept with their rows on each side of the view. */
const KEEP_PAGES = 10;

export interface PageQuery {
  filter: string;
  sort: string;
  /** Pages as this user would see them (the simulate endpoint; project admins only). */
  asUser?: string;
}

interface PageSlot {
  /** The cursor that starts this page (null: the first page). */
  cursor: string | null;
  /** How many rows the page holds (known once fetched; kept when its rows are dropped). */
  count: number;
  rows: RecordOut[] | null;
}

export class Pager {
  /** Rows discovered so far: every fetched page's rows, kept or dropped. */
  length = 0;
  hasMore = true;
  loading = false;
  error: unknown = null;
  /** Pages fetched: what scrolling cost, for tests and the status bar. */
  requests = 0;
  private pages: PageSlot[] = [];
  /** Index of each page's first row (recomputed when counts change). */
  private starts: number[] = [];
  private nextCursor: string | null = null;

  constructor(
    private readonly tableId: string,
    private readonly query: PageQuery,
    private readonly onChange: () => void,
  ) {}

  /** The row at `index`, if its page is in memory. */
  row(index: number): RecordOut | undefined {
    const p = this.pageOf(index);
    if (p < 0) return undefined;
    return this.pages[p]!.rows?.[index - this.starts[p]!];
  }

  /** Loads what rows `first..last` need (and what lies just beyond) and drops far pages. */
  async ensure(first: number, last: number): Promise<void> {
    if (this.loading || this.error) return;
    // Further down than anything fetched: the next page, one at a time.
    if (last >= this.length && this.hasMore) {
      await this.fetch(this.pages.length);
      if (!this.error) void this.ensure(first, last);
      return;
    }
    const from = Math.max(0, this.pageOf(Math.max(first, 0)));
    const to = this.pageOf(Math.min(last, this.length - 1));
    for (let p = from; p <= to && p >= 0; p++) {
      if (!this.pages[p]!.rows) {
        await this.fetch(p);
        if (!this.error) void this.ensure(first, last);
        return;
      }
    }
    this.evict(from, to);
  }

  private evict(from: number, to: number): void {
    this.pages.forEach((page, p) => {
      if (page.rows && (p < from - KEEP_PAGES || p > to + KEEP_PAGES)) page.rows = null;
    });
  }

  private pageOf(index: number): number {
    if (index < 0 || index >= this.length) return -1;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private recount(): void {
    let at = 0;
    this.starts = this.pages.map((p) => {
      const start = at;
      at += p.count;
      return start;
    });
    this.length = at;
  }

  /** Loads rows `first..=last` (as far as the table has them) and waits until they are in. */
  async load(first: number, last: number): Promise<void> {
    for (;;) {
      if (this.inflight) {
        await this.inflight;
        continue;
      }
      if (this.error) return;
      if (last >= this.length && this.hasMore) {
        await this.fetch(this.pages.length);
        continue;
      }
      const from = Math.max(0, this.pageOf(Math.max(first, 0)));
      const to = this.pageOf(Math.min(last, this.length - 1));
      const missing = this.pages.findIndex((page, p) => p >= from && p <= to && !page.rows);
      if (missing < 0) return;
      await this.fetch(missing);
    }
  }

  private inflight: Promise<void> | null = null;

  private fetch(p: number): Promise<void> {
    const run = this.fetchPage(p).finally(() => {
      if (this.inflight === run) this.inflight = null;
    });
    this.inflight = run;
    return run;
  }

  private async fetchPage(p: number): Promise<void> {
    const known = this.pages[p];
    const cursor = known ? known.cursor : this.nextCursor;
    this.loading = true;
    this.onChange();
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (this.query.filter.trim()) params.set("filter", this.query.filter.trim());
    if (this.query.sort) params.set("sort", this.query.sort);
    if (cursor) params.set("cursor", cursor);
    if (this.query.asUser) params.set("user_id", this.query.asUser);
    const endpoint = this.query.asUser ? "simulate" : "records";
    try {
      this.requests++;
      const page = await get<PageOut>(`/api/v1/tables/${this.tableId}/${endpoint}?${params}`);
      if (known) {
        // A page fetched again: its rows may have changed; its place in the table has not.
        known.rows = page.records;
        if (known.count !== page.records.length) {
          known.count = page.records.length;
          this.recount();
        }
      } else {
        this.pages.push({ cursor, count: page.records.length, rows: page.records });
        this.nextCursor = page.next_cursor;
        this.hasMore = page.has_more;
        this.recount();
      }
    } catch (e) {
      this.error = e;
    } finally {
      this.loading = false;
      this.onChange();
    }
  }

  /** Rows `first..=last` that are in memory, in order (for copying a range). */
  range(first: number, last: number): RecordOut[] {
    const out: RecordOut[] = [];
    for (let i = first; i <= last; i++) {
      const r = this.row(i);
      if (r) out.push(r);
    }
    return out;
  }

  replace(record: RecordOut): void {
    for (const page of this.pages) {
      const i = page.rows?.findIndex((r) => r.id === record.id) ?? -1;
      if (page.rows && i >= 0) {
        page.rows = page.rows.slice();
        page.rows[i] = record;
        this.onChange();
        return;
      }
    }
  }

  remove(id: string): void {
    for (const page of this.pages) {
      if (page.rows?.some((r) => r.id === id)) {
        page.rows = page.rows.filter((r) => r.id !== id);
        page.count = page.rows.length;
        this.recount();
        this.onChange();
        return;
      }
    }
  }

  /** A record created here: shown at once when the end of the table is already loaded. */
  appended(record: RecordOut): void {
    const last = this.pages[this.pages.length - 1];
    if (this.hasMore) return;
    if (!last) {
      this.pages.push({ cursor: null, count: 1, rows: [record] });
    } else if (last.rows) {
      last.rows = last.rows.concat(record);
      last.count++;
    } else {
      return;
    }
    this.recount();
    this.onChange();
  }
}
