// Rows of a table fetched page by page with the server's cursors: never a count of all
// rows, never an offset; scrolling further asks for the next page only.
import { get, type PageOut, type RecordOut } from "../api";

export const PAGE_SIZE = 100;

export interface PageQuery {
  filter: string;
  sort: string;
  /** Pages as this user would see them (the simulate endpoint; project admins only). */
  asUser?: string;
}

export class Pager {
  rows: RecordOut[] = [];
  hasMore = true;
  loading = false;
  error: unknown = null;
  /** Pages fetched: what scrolling cost, for tests and the status bar. */
  requests = 0;
  private cursor: string | null = null;

  constructor(
    private readonly tableId: string,
    private readonly query: PageQuery,
    private readonly onChange: () => void,
  ) {}

  /** Loads pages until at least `count` rows are here or the table ends. */
  async ensure(count: number): Promise<void> {
    while (this.rows.length < count && this.hasMore && !this.loading && !this.error) {
      await this.next();
    }
  }

  private async next(): Promise<void> {
    this.loading = true;
    this.onChange();
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (this.query.filter.trim()) params.set("filter", this.query.filter.trim());
    if (this.query.sort) params.set("sort", this.query.sort);
    if (this.cursor) params.set("cursor", this.cursor);
    if (this.query.asUser) params.set("user_id", this.query.asUser);
    const endpoint = this.query.asUser ? "simulate" : "records";
    try {
      this.requests++;
      const page = await get<PageOut>(`/api/v1/tables/${this.tableId}/${endpoint}?${params}`);
      this.rows = this.rows.concat(page.records);
      this.cursor = page.next_cursor;
      this.hasMore = page.has_more;
    } catch (e) {
      this.error = e;
    } finally {
      this.loading = false;
      this.onChange();
    }
  }

  replace(record: RecordOut): void {
    const i = this.rows.findIndex((r) => r.id === record.id);
    if (i >= 0) {
      this.rows = this.rows.slice();
      this.rows[i] = record;
      this.onChange();
    }
  }

  remove(id: string): void {
    this.rows = this.rows.filter((r) => r.id !== id);
    this.onChange();
  }

  /** A record created here: shown at once when the end of the table is already loaded. */
  appended(record: RecordOut): void {
    if (!this.hasMore) {
      this.rows = this.rows.concat(record);
      this.onChange();
    }
  }
}
