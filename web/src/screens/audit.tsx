// The tenant's audit trail: newest first, filtered by who, what, which table or record and
// when, paged with the server's `next_before`, and exported as JSON lines with the same
// filters.
import { useEffect, useState } from "preact/hooks";
import { get, type User } from "../api";
import { Empty, ErrorLine, useAction, useGeneration } from "../ui";

interface Entry {
  seq: number; at: string; actor: string; action: string; request_id: string | null; client_ip: string | null;
  subject?: string; table_id?: string; record_id?: string; detail?: unknown; erased: boolean;
}
interface AuditPage { items: Entry[]; next_before: number | null }
interface Filters { actor: string; action: string; from: string; to: string; record_id: string }

const noFilters: Filters = { actor: "", action: "", from: "", to: "", record_id: "" };

function query(f: Filters, before?: number | null): URLSearchParams {
  const q = new URLSearchParams({ limit: "100" });
  if (f.actor) q.set("actor", f.actor);
  if (f.action.trim()) q.set("action", f.action.trim());
  if (f.record_id.trim()) q.set("record_id", f.record_id.trim());
  if (f.from) q.set("from", new Date(f.from).toISOString());
  if (f.to) q.set("to", new Date(f.to).toISOString());
  if (before) q.set("before", String(before));
  return q;
}

export function Audit() {
  const [draft, setDraft] = useState<Filters>(noFilters);
  const [applied, setApplied] = useState<Filters>(noFilters);
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [users, setUsers] = useState<User[]>([]);
  const action = useAction();
  useEffect(() => { get<User[]>("/api/v1/users").then(setUsers, () => setUsers([])); }, []);
  // Each applied filter starts a new generation; an answer to an older one (a slow first
  // page, or "older entries" of the previous filter) is dropped, never shown.
  const generation = useGeneration();
  useEffect(() => {
    const live = generation.begin();
    void action.run(async () => {
      const page = await get<AuditPage>(`/api/v1/audit?${query(applied)}`);
      if (!live()) return;
      setEntries(page.items);
      setNext(page.next_before);
    });
  }, [applied]);
  const older = () => {
    const live = generation.join();
    return action.run(async () => {
      const page = await get<AuditPage>(`/api/v1/audit?${query(applied, next)}`);
      if (!live()) return;
      setEntries((shown) => [...(shown ?? []), ...page.items]);
      setNext(page.next_before);
    });
  };
  const name = (actor: string) => {
    const u = users.find((x) => `user:${x.id}` === actor);
    return u ? u.display_name : actor;
  };
  const exportQuery = query(applied);
  exportQuery.delete("limit");

  return (
    <section>
      <h1>Audit trail</h1>
      <form class="inline card" onSubmit={(e) => { e.preventDefault(); setApplied(draft); }} aria-label="Audit filters">
        <label>Who
          <select name="audit_actor" value={draft.actor} onChange={(e) => setDraft({ ...draft, actor: e.currentTarget.value })}>
            <option value="">anyone</option>
            {users.map((u) => <option key={u.id} value={`user:${u.id}`}>{u.display_name}</option>)}
            <option value="operator">the operator (CLI)</option>
            <option value="system">the system</option>
            <option value="anonymous">anonymous</option>
          </select>
        </label>
        <label>Action or area
          <input name="audit_action" placeholder="e.g. record. or auth.login_failed" value={draft.action}
            onInput={(e) => setDraft({ ...draft, action: e.currentTarget.value })} />
        </label>
        <label>Record id<input name="audit_record" value={draft.record_id} onInput={(e) => setDraft({ ...draft, record_id: e.currentTarget.value })} /></label>
        <label>From<input name="audit_from" type="datetime-local" value={draft.from} onInput={(e) => setDraft({ ...draft, from: e.currentTarget.value })} /></label>
        <label>Until<input name="audit_to" type="datetime-local" value={draft.to} onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })} /></label>
        <button type="submit">Show</button>
        <a class="button-link" href={`/api/v1/audit/export?${exportQuery}`} download="audit.jsonl">Export (JSON lines)</a>
      </form>
      <ErrorLine message={action.message} />
      {entries === null ? <p class="loading">Loading…</p> : entries.length === 0 ? <Empty>No entries match.</Empty> : (
        <table class="plain audit">
          <thead><tr><th>#</th><th>When</th><th>Who</th><th>Action</th><th>What</th><th>From</th></tr></thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.seq}>
                <td>{e.seq}</td>
                <td>{new Date(e.at).toLocaleString()}</td>
                <td>{name(e.actor)}</td>
                <td><code>{e.action}</code></td>
                <td class="detail">{e.erased ? <em>erased</em> : e.detail ? <code>{JSON.stringify(e.detail)}</code> : e.record_id ?? e.subject ?? ""}</td>
                <td>{e.client_ip ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next && <button type="button" class="secondary" disabled={action.busy} onClick={() => void older()}>Older entries</button>}
    </section>
  );
}
