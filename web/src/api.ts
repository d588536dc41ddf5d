// The one place the UI talks to the server: same-origin JSON over fetch, the session cookie
// sent by the browser, and RFC 9457 problems turned into `ApiProblem`.

export interface FieldError {
  field: string;
  code: string;
  message: string;
  position?: number;
}

export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly errors: FieldError[] = [],
  ) {
    super(detail || code);
  }

  /** The message for one input, by the server's field path (`fields.age`, `filter`, …). */
  fieldMessage(path: string): string | undefined {
    return this.errors.find((e) => e.field === path)?.message;
  }
}

type Method = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";

export function api<T>(method: Method, path: string, body?: unknown): Promise<T> {
  return body === undefined
    ? send<T>(method, path)
    : send<T>(method, path, JSON.stringify(body), "application/json");
}

/** Sends a file as the request body (imports): the server reads its bytes, not JSON. */
export const upload = <T>(path: string, file: Blob) => send<T>("POST", path, file, "application/octet-stream");

async function send<T>(method: Method, path: string, body?: BodyInit, contentType?: string): Promise<T> {
  const init: RequestInit = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.body = body;
    if (contentType) (init.headers as Record<string, string>)["content-type"] = contentType;
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiProblem(0, "network_error", "The server could not be reached.");
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const p = (parsed ?? {}) as Partial<{ code: string; detail: string; title: string; errors: FieldError[] }>;
    throw new ApiProblem(
      response.status,
      p.code ?? `http_${response.status}`,
      p.detail ?? p.title ?? response.statusText,
      p.errors ?? [],
    );
  }
  return parsed as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body: unknown = {}) => api<T>("POST", path, body);
export const patch = <T>(path: string, body: unknown) => api<T>("PATCH", path, body);
export const put = <T>(path: string, body: unknown = {}) => api<T>("PUT", path, body);
export const del = <T = void>(path: string) => api<T>("DELETE", path);

/** A message for a person: the server's detail plus its stable code. */
export function describe(e: unknown): string {
  if (e instanceof ApiProblem) {
    const first = e.errors[0];
    const detail = first ? `${first.field}: ${first.message}` : e.detail;
    return `${detail} (${e.code})`;
  }
  return e instanceof Error ? e.message : String(e);
}

// --- The shapes the UI reads -------------------------------------------------------------

export interface User {
  id: string;
  email: string;
  display_name: string;
  role: "owner" | "admin" | "member";
  disabled: boolean;
  created_at: string;
}

export interface Me extends User {
  second_factor: boolean;
  second_factor_required: boolean;
}

export type LoginAnswer =
  | { status: "signed_in"; user: User; expires_at: string }
  | { status: "second_factor_required"; challenge: string; methods: string[] };

export interface Project {
  id: string;
  name: string;
  created_at: string;
  role: string | null;
  require_second_factor: boolean;
}

export type FieldKind =
  | "text" | "long_text" | "integer" | "decimal" | "boolean" | "date" | "datetime"
  | "single_select" | "multi_select" | "email" | "url" | "json" | "link" | "user";

export interface Field {
  id: string;
  name: string;
  type: FieldKind;
  /** Absent or null for types without options. */
  options?: { choices?: string[]; table_id?: string; multiple?: boolean; max_length?: number; [k: string]: unknown } | null;
  required: boolean;
  unique: boolean;
  indexed: boolean;
  encrypted: boolean;
  blind_index: boolean;
  default: unknown;
}

export interface Table {
  id: string;
  project_id: string;
  name: string;
  schema_version: number;
  fields: Field[];
}

export interface RecordOut {
  id: string;
  version: number;
  owner: string | null;
  created_at: string;
  updated_at: string;
  fields: Record<string, unknown>;
}

export interface PageOut {
  records: RecordOut[];
  has_more: boolean;
  next_cursor: string | null;
}

/** A file's head as an import reads it (`POST /api/v1/imports/preview`). */
export interface PreviewColumn {
  name: string;
  field_name: string;
  type: FieldKind;
  options?: Field["options"];
  maps_to?: string;
  empty: number;
}

export interface ImportPreview {
  format: string;
  delimiter?: string;
  encoding?: string;
  sheet?: string;
  sheets?: string[];
  columns: PreviewColumn[];
  rows: unknown[][];
  rows_sampled: number;
  more_rows: boolean;
}

export interface ImportJob {
  id: string;
  table_id: string;
  state: "running" | "done" | "failed" | "cancelled" | "interrupted";
  mode: string;
  dry_run: boolean;
  format: string;
  columns: { column: string; field: string | null; key?: boolean }[];
  rows_read: number;
  rows_written: number;
  rows_updated: number;
  rows_rejected: number;
  message: string | null;
  estimated_seconds_left: number | null;
  share_read: number | null;
  created_at: string;
  finished_at: string | null;
  expires_at: string;
}

export interface RejectedRow {
  row: number;
  errors: { column: string | null; code: string; message: string }[];
  cells: string[];
}
