import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiProblem, del, get, patch, post, type Field, type Project, type RecordOut, type Table } from "../api";
import { navigate, onLink } from "../router";
import { Grid } from "../grid/grid";
import { Pager } from "../grid/pager";
import { editableInGrid, parseText } from "../grid/values";
import { Empty, ErrorLine, useAction } from "../ui";
import { draftOf, emptyDraft, fieldBody, FieldEditor, fieldOptions } from "./fields";
import { FilterBar } from "./filter";
import { ViewAs, type Explanation, ExplainCard } from "./view_as";
import { ImportWizard } from "./import";

export function TableScreen(props: { tableId: string }) {
  const [table, setTable] = useState<Table | null>(null);
  const [project, setProject] = useState<Project | null>(null);
  const [filter, setFilter] = useState("");
  const [sort, setSort] = useState("");
  const [, setTick] = useState(0);
  const [activeRecord, setActiveRecord] = useState<RecordOut | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [panel, setPanel] = useState<"none" | "record" | "field" | "import">("none");
  // Bumped when records changed behind the grid's back (an import): a fresh pager.
  const [generation, setGeneration] = useState(0);
  const [viewAs, setViewAs] = useState<{ id: string; label: string } | null>(null);
  const [explanation, setExplanation] = useState<Explanation | null>(null);
  const load = useAction();
  const removal = useAction();


  const reload = () =>
    load.run(async () => {
      const t = await get<Table>(`/api/v1/tables/${props.tableId}`);
      setTable(t);
      setProject(await get<Project>(`/api/v1/projects/${t.project_id}`));
    });
  useEffect(() => void reload(), [props.tableId]);
  // A new query (or a new schema) is a new pager: rows of the old one never mix in.
  const pager = useMemo(
    () => new Pager(props.tableId, { filter, sort, ...(viewAs ? { asUser: viewAs.id } : {}) }, () => setTick((t) => t + 1)),
    [props.tableId, filter, sort, table?.schema_version, viewAs?.id, generation],
  );

  if (load.error instanceof ApiProblem && load.error.status === 404) {
    return <Empty>This table does not exist, or you have no access to it.</Empty>;
  }
  if (!table) return <p class="loading" aria-busy="true">{load.message ?? "Loading table…"}</p>;

  const filterError =
    pager.error instanceof ApiProblem
      ? (pager.error.errors.find((e) => e.field === "filter" || e.field === "sort") ?? null)
      : null;

  const canAdmin = project?.role === "owner" || project?.role === "admin";
  // The grid's records as a file: the same filter and sort, every field you may read.
  const exportUrl = (format: "csv" | "xlsx") => {
    const query = new URLSearchParams({ format });
    if (filter) query.set("filter", filter);
    if (sort) query.set("sort", sort);
    return `/api/v1/tables/${table.id}/export?${query}`;
  };
  const deleteRecord = () => {
    const r = activeRecord;
    if (!r || !confirm("Delete this record?")) return;
    void removal.run(async () => {
      await del(`/api/v1/tables/${table.id}/records/${r.id}?version=${r.version}`);
      pager.remove(r.id);
      setStatus("Record deleted.");
    });
  };

  return (
    <section class="table-screen">
      <p class="crumbs">
        <a href="/" onClick={(e) => onLink(e, "/")}>Projects</a> /{" "}
        <a href={`/projects/${table.project_id}`} onClick={(e) => onLink(e, `/projects/${table.project_id}`)}>{project?.name ?? "project"}</a> /
      </p>
      <h1>{table.name}</h1>
      <FilterBar table={table} filter={filter} onFilter={setFilter} error={filterError} />
      {canAdmin && (
        <ViewAs table={table} active={activeRecord} viewing={viewAs}
          onView={(u) => { setViewAs(u); setExplanation(null); }} onExplained={setExplanation} />
      )}
      {explanation && <ExplainCard explanation={explanation} onClose={() => setExplanation(null)} />}
      <div class="toolbar">
        {!viewAs && (
          <>
            <button type="button" onClick={() => setPanel(panel === "record" ? "none" : "record")}>New record</button>
            <button type="button" class="secondary" disabled={!activeRecord}
              onClick={() => activeRecord && navigate(`/tables/${table.id}/records/${activeRecord.id}`)}>Open record</button>
            <button type="button" class="secondary" disabled={!activeRecord || removal.busy} onClick={deleteRecord}>Delete record</button>
            {canAdmin && <button type="button" class="secondary" onClick={() => setPanel(panel === "field" ? "none" : "field")}>Fields</button>}
            <button type="button" class="secondary" onClick={() => setPanel(panel === "import" ? "none" : "import")}>Import</button>
            <a class="button-link" href={exportUrl("csv")} download>Export CSV</a>
            <a class="button-link" href={exportUrl("xlsx")} download>Export Excel</a>
          </>
        )}
        {sort && (
          <span class="chip">
            sorted by {sort.replace(/^-/, "")} {sort.startsWith("-") ? "descending" : "ascending"}
            <button type="button" class="link" aria-label="Clear the sort" onClick={() => setSort("")}>×</button>
          </span>
        )}
        <span class="muted small" role="status">
          {pager.length} record{pager.length === 1 ? "" : "s"} loaded{pager.hasMore ? ", more below" : ""} ·{" "}
          {pager.requests} request{pager.requests === 1 ? "" : "s"}
        </span>
      </div>
      <ErrorLine message={removal.message} />
      {status && <p class="status" role="status">{status}</p>}
      {panel === "record" && (
        <NewRecord table={table} onCreated={(r) => { pager.appended(r); setStatus("Record added."); setPanel("none"); }} />
      )}
      {panel === "import" && (
        <ImportWizard target={{ table }} onClose={() => setPanel("none")}
          onFinished={() => setGeneration((g) => g + 1)} />
      )}
      {panel === "field" && (
        <FieldsPanel table={table} onChanged={() => void reload()} />
      )}
      {table.fields.length === 0 ? (
        <Empty>This table has no fields you can see.</Empty>
      ) : (
        <Grid table={table} pager={pager} sort={sort} onSort={setSort} onActiveRow={setActiveRecord} onStatus={setStatus}
          readOnly={Boolean(viewAs)} />
      )}
    </section>
  );
}

function NewRecord(props: { table: Table; onCreated: (r: RecordOut) => void }) {
  const fields = props.table.fields.filter(editableInGrid);
  const [texts, setTexts] = useState<Record<string, string>>({});
  const action = useAction();
  const problem = action.error instanceof ApiProblem ? action.error : null;

  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const values: Record<string, unknown> = {};
      for (const f of fields) {
        const t = texts[f.name] ?? "";
        if (f.type === "boolean") values[f.name] = t === "true";
        else if (t.trim() !== "") values[f.name] = parseText(f, t);
      }
      props.onCreated(await post<RecordOut>(`/api/v1/tables/${props.table.id}/records`, { fields: values }));
    });
  };

  return (
    <form class="card record-form" onSubmit={submit} aria-label="New record">
      <h2>New record</h2>
      {fields.map((f) => {
        const error = problem?.fieldMessage(`fields.${f.name}`);
        const set = (v: string) => setTexts({ ...texts, [f.name]: v });
        return (
          <label key={f.id} class={f.type === "boolean" ? "check" : ""}>
            {f.type === "boolean" ? (
              <input type="checkbox" name={f.name} checked={texts[f.name] === "true"} onChange={(e) => set(String(e.currentTarget.checked))} />
            ) : null}
            {f.name}{f.required ? " *" : ""}
            {f.type === "single_select" ? (
              <select name={f.name} value={texts[f.name] ?? ""} onChange={(e) => set(e.currentTarget.value)}>
                <option value="">—</option>
                {(f.options?.choices ?? []).map((c) => <option key={c} value={c}>{c}</option>)}
              </select>
            ) : f.type === "long_text" ? (
              <textarea name={f.name} value={texts[f.name] ?? ""} onInput={(e) => set(e.currentTarget.value)} />
            ) : f.type === "date" ? (
              <input name={f.name} type="date" aria-invalid={error ? true : undefined}
                value={texts[f.name] ?? ""} onInput={(e) => set(e.currentTarget.value)} />
            ) : f.type !== "boolean" ? (
              <input name={f.name} type="text" aria-invalid={error ? true : undefined}
                value={texts[f.name] ?? ""} onInput={(e) => set(e.currentTarget.value)} />
            ) : null}
            {error && <span class="error" role="alert">{error}</span>}
          </label>
        );
      })}
      <ErrorLine message={problem && problem.errors.length ? null : action.message} />
      <button type="submit" disabled={action.busy}>Add record</button>
    </form>
  );
}

function FieldsPanel(props: { table: Table; onChanged: () => void }) {
  const [tables, setTables] = useState<Table[]>([]);
  const [editing, setEditing] = useState<string | null>(null);
  const [draft, setDraft] = useState(emptyDraft());
  const action = useAction();
  useEffect(() => {
    get<Table[]>(`/api/v1/projects/${props.table.project_id}/tables`).then(setTables, () => setTables([]));
  }, []);
  const start = (f: Field | null) => {
    setEditing(f ? f.id : "new");
    setDraft(f ? draftOf(f) : emptyDraft());
    action.setError(null);
  };
  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(async () => {
      const stored = props.table.fields.find((f) => f.id === editing);
      if (!stored) {
        await post(`/api/v1/tables/${props.table.id}/fields`, fieldBody(draft));
      } else {
        const body: Record<string, unknown> = {};
        const was = draftOf(stored);
        if (draft.name.trim() !== stored.name) body.name = draft.name.trim();
        if (draft.type !== stored.type) body.type = draft.type;
        if (JSON.stringify(fieldOptions(draft)) !== JSON.stringify(fieldOptions(was)) || body.type) body.options = fieldOptions(draft);
        for (const k of ["required", "unique", "indexed"] as const) if (draft[k] !== was[k]) body[k] = draft[k];
        await patch(`/api/v1/tables/${props.table.id}/fields/${stored.id}`, body);
      }
      setEditing(null);
      props.onChanged();
    });
  };
  const remove = (f: Field) => {
    if (!confirm(`Delete the field “${f.name}” and its values in every record?`)) return;
    void action.run(async () => {
      await del(`/api/v1/tables/${props.table.id}/fields/${f.id}`);
      props.onChanged();
    });
  };
  return (
    <div class="card" role="region" aria-label="Fields">
      <h2>Fields</h2>
      <ul class="list">
        {props.table.fields.map((f) => (
          <li key={f.id}>
            <strong>{f.name}</strong>
            <span class="muted">{f.type.replace("_", " ")}{f.required ? ", required" : ""}{f.unique ? ", unique" : ""}{f.encrypted ? ", encrypted" : ""}</span>
            <span class="actions">
              <button type="button" class="link" onClick={() => start(f)}>Edit</button>
              <button type="button" class="link danger" onClick={() => remove(f)}>Delete</button>
            </span>
          </li>
        ))}
      </ul>
      {editing ? (
        <form onSubmit={submit} aria-label={editing === "new" ? "New field" : "Edit field"}>
          <FieldEditor index={0} draft={draft} tables={tables} onChange={setDraft} existing={editing !== "new"} />
          <div class="row">
            <button type="submit" disabled={action.busy}>{editing === "new" ? "Add field" : "Save field"}</button>
            <button type="button" class="link" onClick={() => setEditing(null)}>Cancel</button>
          </div>
        </form>
      ) : (
        <button type="button" class="secondary" onClick={() => start(null)}>New field</button>
      )}
      <ErrorLine message={action.message} />
    </div>
  );
}
