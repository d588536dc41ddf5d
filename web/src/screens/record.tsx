// One record on its own page: every field in a form (validation at each field, conflicts
// explained), and link fields as links to the related records, with a picker to add one.
import { useEffect, useState } from "preact/hooks";
import { ApiProblem, get, patch, type Field, type PageOut, type RecordOut, type Table } from "../api";
import { onLink } from "../router";
import { display, editableInGrid, editText, parseText } from "../grid/values";
import { Empty, ErrorLine, useAction, useGeneration } from "../ui";

export function RecordScreen(props: { tableId: string; recordId: string }) {
  const [table, setTable] = useState<Table | null>(null);
  const [record, setRecord] = useState<RecordOut | null>(null);
  const [texts, setTexts] = useState<Record<string, string>>({});
  const load = useAction();
  const save = useAction();
  const show = (t: Table, r: RecordOut) => {
    setRecord(r);
    setTexts(Object.fromEntries(t.fields.map((f) => [f.name, editText(f, r.fields[f.name])])));
  };
  const refresh = () =>
    load.run(async () => {
      const t = await get<Table>(`/api/v1/tables/${props.tableId}`);
      setTable(t);
      show(t, await get<RecordOut>(`/api/v1/tables/${props.tableId}/records/${props.recordId}`));
    });
  useEffect(() => void refresh(), [props.tableId, props.recordId]);

  if (load.error instanceof ApiProblem && load.error.status === 404) {
    return <Empty>This record does not exist, or you may not see it.</Empty>;
  }
  if (!table || !record) return <p class="loading">{load.message ?? "Loading record…"}</p>;
  const problem = save.error instanceof ApiProblem ? save.error : null;

  const submit = (e: Event) => {
    e.preventDefault();
    void save.run(async () => {
      const values: Record<string, unknown> = {};
      for (const f of table.fields.filter(editableInGrid)) {
        if (!(f.name in record.fields)) continue;
        const before = editText(f, record.fields[f.name]);
        const now = texts[f.name] ?? "";
        if (now !== before) values[f.name] = f.type === "boolean" ? now === "true" : parseText(f, now);
      }
      if (Object.keys(values).length === 0) return;
      try {
        show(table, await patch<RecordOut>(`/api/v1/tables/${table.id}/records/${record.id}`, { fields: values, version: record.version }));
      } catch (err) {
        if (err instanceof ApiProblem && err.status === 409) {
          const current = await get<RecordOut>(`/api/v1/tables/${table.id}/records/${record.id}`);
          setRecord(current);
          throw new ApiProblem(409, "version_conflict", "Someone else saved this record after you opened it. Your changes are still in the form; save again to apply them to their version.");
        }
        throw err;
      }
    });
  };
  const setLinks = (f: Field, ids: string[]) =>
    save.run(async () => {
      const value = f.options?.multiple ? ids : (ids[0] ?? null);
      show(table, await patch<RecordOut>(`/api/v1/tables/${table.id}/records/${record.id}`, { fields: { [f.name]: value }, version: record.version }));
    });

  return (
    <section>
      <p class="crumbs">
        <a href={`/tables/${table.id}`} onClick={(e) => onLink(e, `/tables/${table.id}`)}>{table.name}</a> /
      </p>
      <h1>{display(table.fields[0]!, record.fields[table.fields[0]?.name ?? ""]) || "Record"}</h1>
      <p class="muted small">version {record.version} · created {new Date(record.created_at).toLocaleString()} · updated {new Date(record.updated_at).toLocaleString()}</p>
      <form class="card record-detail" onSubmit={submit} aria-label="Record">
        {table.fields.map((f) => {
          if (!(f.name in record.fields)) return null;
          const error = problem?.fieldMessage(`fields.${f.name}`);
          if (f.type === "link") {
            return <Links key={f.id} field={f} value={record.fields[f.name]} onChange={(ids) => void setLinks(f, ids)} />;
          }
          if (!editableInGrid(f)) {
            return <p key={f.id}><strong>{f.name}</strong>: {display(f, record.fields[f.name])}</p>;
          }
          const set = (v: string) => setTexts({ ...texts, [f.name]: v });
          return (
            <label key={f.id} class={f.type === "boolean" ? "check" : ""}>
              {f.type === "boolean" && (
                <input type="checkbox" name={f.name} checked={texts[f.name] === "true"} onChange={(e) => set(String(e.currentTarget.checked))} />
              )}
              {f.name}{f.required ? " *" : ""}
              {f.type === "long_text" || f.type === "json" ? (
                <textarea name={f.name} rows={4} value={texts[f.name] ?? ""} onInput={(e) => set(e.currentTarget.value)} />
              ) : f.type === "single_select" ? (
                <select name={f.name} value={texts[f.name] ?? ""} onChange={(e) => set(e.currentTarget.value)}>
                  <option value="">—</option>
                  {(f.options?.choices ?? []).map((c) => <option key={c} value={c}>{c}</option>)}
                </select>
              ) : f.type !== "boolean" ? (
                <input name={f.name} value={texts[f.name] ?? ""} aria-invalid={error ? true : undefined} onInput={(e) => set(e.currentTarget.value)} />
              ) : null}
              {error && <span class="error" role="alert">{error}</span>}
            </label>
          );
        })}
        <ErrorLine message={problem && problem.errors.length ? null : save.message} />
        <button type="submit" disabled={save.busy}>Save</button>
      </form>
    </section>
  );
}

/** A link field: the linked records by their first field, each a link, and a picker. */
function Links(props: { field: Field; value: unknown; onChange: (ids: string[]) => void }) {
  const f = props.field;
  const target = String(f.options?.table_id ?? "");
  const ids = Array.isArray(props.value) ? (props.value as string[]) : props.value ? [String(props.value)] : [];
  const [linkedTable, setLinkedTable] = useState<Table | null>(null);
  const [labels, setLabels] = useState<Record<string, string>>({});
  const [search, setSearch] = useState("");
  const [found, setFound] = useState<RecordOut[]>([]);
  const action = useAction();
  const label = (t: Table, r: RecordOut) => display(t.fields[0]!, r.fields[t.fields[0]?.name ?? ""]) || r.id;
  // The labels of the links as they are now, not of an earlier value whose answers came late.
  const generation = useGeneration();
  useEffect(() => {
    const live = generation.begin();
    void action.run(async () => {
      const t = await get<Table>(`/api/v1/tables/${target}`);
      if (!live()) return;
      setLinkedTable(t);
      const entries = await Promise.all(ids.map(async (id) => {
        try {
          return [id, label(t, await get<RecordOut>(`/api/v1/tables/${target}/records/${id}`))] as const;
        } catch {
          return [id, "a record you may not see"] as const;
        }
      }));
      if (live()) setLabels(Object.fromEntries(entries));
    });
  }, [target, ids.join()]);
  const find = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      if (!linkedTable) return;
      const first = linkedTable.fields[0];
      const q = new URLSearchParams({ limit: "10" });
      if (first && search.trim()) q.set("filter", `\`${first.name}\` ~ ${JSON.stringify(search.trim())}`);
      setFound((await get<PageOut>(`/api/v1/tables/${target}/records?${q}`)).records);
    });
  };
  return (
    <fieldset class="grant links">
      <legend>{f.name} <span class="muted small">links to {linkedTable?.name ?? "…"}</span></legend>
      {ids.length === 0 ? <p class="muted">No linked records.</p> : (
        <ul>
          {ids.map((id) => (
            <li key={id}>
              <a href={`/tables/${target}/records/${id}`} onClick={(e) => onLink(e, `/tables/${target}/records/${id}`)}>{labels[id] ?? "…"}</a>
              <button type="button" class="link danger" onClick={() => props.onChange(ids.filter((x) => x !== id))}>Unlink</button>
            </li>
          ))}
        </ul>
      )}
      <div class="inline">
        <input aria-label={`Find a record to link in ${f.name}`} placeholder="Search…" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        <button type="button" class="secondary" onClick={find}>Find</button>
      </div>
      {found.length > 0 && linkedTable && (
        <ul class="found">
          {found.filter((r) => !ids.includes(r.id)).map((r) => (
            <li key={r.id}>
              {label(linkedTable, r)}{" "}
              <button type="button" class="link" onClick={() => { props.onChange(f.options?.multiple ? [...ids, r.id] : [r.id]); setFound([]); }}>Link</button>
            </li>
          ))}
        </ul>
      )}
      <ErrorLine message={action.message} />
    </fieldset>
  );
}
